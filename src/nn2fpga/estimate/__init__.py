"""Resource and latency estimates of a compiled graph against a part, without Vitis: the device database
(`devices`), what the templates build (`geometry`), memory primitives (`memory`), the cycle model (`cycles`).
"""
