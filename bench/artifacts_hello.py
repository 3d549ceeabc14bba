"""A bare FastAPI hello-world: the reference throughput for bench/artifacts_bench.py."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def hello() -> dict:
    return {"message": "hello"}
