"""Model packages. Each `models/<name>/__init__.py` exposes `router: APIRouter`; discovery finds it."""
