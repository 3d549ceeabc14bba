"""The trained-artifact subsystem (not a model package: discovery skips `_` names).

Read in this order, from the files on disk to the HTTP endpoints:

- `store.py`    the model store `<root>/<model>/<version>/`: reads, validates, safely loads artifacts
- `spec.py`     a model's contract (`ModelSpec`: text or tabular features, labels) and input checks
- `derived.py`  an artifact's cache entry (faster-loading form; `linear.py`: a text pipeline's linear
                form, scored without scikit-learn); `verify.py` the child process that writes entries
- `runtime.py`  predictors (linear form, ONNX session, `pipelines.py`: a pipeline in compute processes)
- `serving.py`  per-process serving state: versions, A/B routing, drift windows, metrics
- `drift.py`    drift references and PSI; `batch.py` scoring of CSV / JSON-lines files
- `schemas.py`  request/response models; `v2.py` the Open Inference Protocol codec
- `router.py`   `artifact_router(spec)`, the HTTP face of one model (`models/sentiment/` uses it)
- `v2_router.py` the `/v2` endpoints for every model of the store (`models/kserve_v2/` mounts them)
- `training.py`, `register.py`, `train.py`  training results, writing a new version, the CLI

Each artifact model's own contract and training live in its package: `models/<name>/spec.py` and
`models/<name>/training.py`.
"""
