"""For staff in a browser: the console behind a login (`/console`): the live queue board,
walk-ins, ticket history, analytics, queue settings and the dev inbox with its simulator.
Every page goes through `web.auth.staff_page`."""
