"""For patients and the waiting room, without a login: the display (`/display/{code}`), a
patient's ticket page (`/t/{token}`), the web join form (`/q/{code}/join`) and the printable
QR poster."""
