"""For programs: the REST API v1 (`/api/v1`), its request bodies and the OpenAPI document
with the `/docs` page that renders it. Every route goes through `endpoint`."""
