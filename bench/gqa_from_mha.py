#!/usr/bin/env python3
"""A GQA stand-in from a trained multi-head Llama: each group of `group` key and value heads is replaced by their
mean (the conversion of Ainslie et al., 2023, without uptraining), every other tensor copied; written in F32.

    python3 bench/gqa_from_mha.py assets/models/tiny-llama 3 /tmp/tiny-llama-gqa   # 6 heads -> 2 KV heads
"""
import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np


def read(path):
    raw = path.read_bytes()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    tensors = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        begin, end = info['data_offsets']
        chunk = data[begin:end]
        if info['dtype'] == 'BF16':
            a = (np.frombuffer(chunk, dtype='<u2').astype(np.uint32) << 16).view(np.float32)
        elif info['dtype'] == 'F16':
            a = np.frombuffer(chunk, dtype='<f2').astype(np.float32)
        else:
            a = np.frombuffer(chunk, dtype='<f4')
        tensors[name] = a.reshape(info['shape'])
    return tensors


def write(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        blob = np.ascontiguousarray(tensors[name], dtype='<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(tensors[name].shape), 'data_offsets': [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    encoded = json.dumps(header, separators=(',', ':')).encode()
    encoded += b' ' * (-len(encoded) % 8)
    path.write_bytes(struct.pack('<Q', len(encoded)) + encoded + b''.join(blobs))


def main(src, group, out):
    src, out, group = Path(src), Path(out), int(group)
    config = json.loads((src / 'config.json').read_text())
    heads = config['num_attention_heads']
    d = config['hidden_size'] // heads
    tensors = read(src / 'model.safetensors')
    for name in tensors:
        if name.endswith(('k_proj.weight', 'v_proj.weight')):
            w = tensors[name].reshape(heads // group, group, d, -1)
            tensors[name] = w.mean(axis=1).reshape(heads // group * d, -1)
    out.mkdir(parents=True, exist_ok=True)
    write(out / 'model.safetensors', tensors)
    config['num_key_value_heads'] = heads // group
    config['torch_dtype'] = 'float32'
    (out / 'config.json').write_text(json.dumps(config, indent=2))
    for f in ('tokenizer.json', 'tokenizer_config.json'):
        if (src / f).exists():
            shutil.copy(src / f, out / f)


if __name__ == '__main__':
    main(*sys.argv[1:])
