"""The serving core: the Open Inference Protocol (KServe v2) spoken by `sdk serve` and the functions.

Nothing is imported here, so that ``import sdk.serving.codec`` (what a client needs) stays light. The modules::

    datatypes   OIP datatype names <-> numpy dtypes
    tensors     one tensor: JSON data and the binary extension, strictly checked
    codec       requests and responses (encode/decode, both sides), the binary tensor extension
    config      ServeConfig: limits, batching, auth (environment variables beside each field)
    repository  the models a server serves, each version loaded once (local, built-in or s3:// stores)
    batcher     dynamic batching on an event loop, model runs on a worker thread
    service     routes -> Response; the one ``handle`` every transport calls
    bootstrap   build a ready service from a store URI
    http        uvicorn + a raw ASGI app (`sdk serve`, the SageMaker container)
"""
