"""The playground at `GET /ui`: a static page whose forms and charts are built in the browser from
`GET /params` and `/openapi.json`. It talks only to the public API, with URLs relative to the page,
so it works behind a path prefix (`root_path`, ingress) and through the Azure Function entry."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
PATH = "/ui"


def install(app: FastAPI) -> None:
    """Serve the page at /ui and its modules and vendored chart bundles under /ui/static."""

    @app.get(PATH, include_in_schema=False)
    def playground() -> FileResponse:
        return FileResponse(
            STATIC / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"}
        )

    app.mount(f"{PATH}/static", StaticFiles(directory=STATIC), name="playground-static")
