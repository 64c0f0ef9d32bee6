"""Reads a safetensors file (Credence's checkpoints and posteriors) into torch tensors, for the
comparison scripts; no dependency beyond numpy and torch."""
import json
import struct

import numpy as np
import torch


def read_safetensors(path):
    """The file's float32 tensors by name, and its metadata."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__" or entry["dtype"] != "F32":
            continue
        start, end = entry["data_offsets"]
        data = np.frombuffer(raw[8 + n + start:8 + n + end], dtype=np.float32)
        tensors[name] = torch.from_numpy(data.reshape(entry["shape"]).copy())
    return tensors, header.get("__metadata__", {})
