"""The serving core: the Open Inference Protocol (KServe v2) server behind `sdk serve` and the functions.

The wire format itself (codec, tensors, datatypes, JSON, content encodings) is ``sdk.protocol``, shared with the
client; what is here is the server's policy. Nothing is imported here. The modules::

    config      ServeConfig: limits, batching, auth, explanations (environment variables beside each field)
    limits      what one request may cost: rows per request, model runs in slices
    routes      the route table (method, path -> handler) and its bounded cache
    messages    Request, Response, the request id, the log form of a path
    checks      the checks an inference body passes (content type, datatypes, outputs)
    raw         raw inputs (text, images) as OIP BYTES
    sagemaker   which model /invocations runs
    explaining  POST .../explain: attributions within the server's caps, off the event loop
    repository  the models a server serves, each version loaded once (local, built-in or s3:// stores)
    catalog     what the server says of its models: one model's metadata, the list the page shows
    metrics     GET /metrics: Prometheus metrics in a registry per service, bounded labels
    openapi     GET /v2/openapi.json: the OpenAPI 3.1 document, generated from the route table
    ui          the page's static files (sdk/serving/ui/), read once, served with a strict CSP
    operate     the operator's routes: metrics, OpenAPI, the model list, the page
    batcher     dynamic batching on an event loop, model runs on a worker thread
    service     routes -> Response; the one ``handle`` every transport calls
    bootstrap   build a ready service from a store URI
    connection  the HTTP connection guards of `sdk serve` (connections, header size and time)
    http        uvicorn + a raw ASGI app (`sdk serve`, the SageMaker container)
"""
