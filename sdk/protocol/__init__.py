"""The Open Inference Protocol (KServe v2) on the wire, for both sides: the client encodes requests and decodes
responses, the serving core decodes requests and encodes responses, with the same code.

It sits at the base of the package (it imports only ``sdk.errors`` and ``sdk.extras``), so a client never loads
the server to speak to one. Nothing is imported here, so ``import sdk.protocol.codec`` stays light. The modules::

    datatypes   OIP datatype names <-> numpy dtypes
    tensors     one tensor: JSON data and the binary extension, strictly checked
    codec       requests and responses (encode/decode, both sides), the binary extension's framing and SageMaker's
    jsonio      JSON for the wire: orjson when installed, else the standard library
    encoding    Content-Encoding of a body (gzip, deflate), inflated within a size limit
"""
