#!/usr/bin/env python3
"""Exports a mobilellm model file as a GGUF file that llama.cpp loads (architecture `llama`).

    tools/llama/export_llama_gguf.py MODEL.gguf -o OUT.gguf [--type f16|q8_0|f32] [--name NAME]

MODEL.gguf is one of our files (models/README.md) with F32, F16 or BF16 weights; a W8A8 file is
refused (its int8 rows would be quantized a second time). What changes on the way:

- Keys: `mobilellm.*` become llama.cpp's `llama.*` (context_length, embedding_length,
  block_count, feed_forward_length, attention.head_count, attention.head_count_kv,
  attention.key_length, attention.value_length, rope.dimension_count, rope.freq_base,
  attention.layer_norm_rms_epsilon, vocab_size), plus general.file_type and, for Q8_0,
  general.quantization_version = 2. The tokenizer keys keep their names (they are llama.cpp's:
  model `llama` = SentencePiece, tokens, scores, token_type, special ids, add_bos/add_eos/
  add_space_prefix). `tokenizer.ggml.merges` is dropped: llama.cpp's SentencePiece tokenizer
  merges by score, and our converter already writes scores that mirror the merge ranks
  (-(rank + 1)) when the source tokenizer had merges.
- Q and K rows: our files keep Hugging Face's order (within a head, element i pairs with
  i + D/2); llama.cpp rotates adjacent pairs (2i, 2i + 1), so each head's rows are permuted as
  llama.cpp's convert_hf_to_gguf.py does: new row 2i = old row i, new row 2i + 1 = old row
  i + D/2 (Q over `head_count` heads, K over `head_count_kv` heads).
- Layer sharing: llama.cpp has none, so a file with `mobilellm.layer_sharing` is unrolled: stored
  block b is written twice, as blocks 2b and 2b + 1, and block_count doubles. Each copy is its
  own bytes (llama.cpp reads them twice per token, as it would for any 2x-deep model).
- Output head: with embedding sharing, `output.weight` is left out; llama.cpp then uses
  `token_embd.weight` for the output (its LLM_ARCH_LLAMA loader falls back to it).
- Types: the matrices become F16, Q8_0 or F32 (--type); norm weights stay F32. Q8_0 is ggml's
  block of 32: an F16 scale d = max|x| / 127 then 32 int8 q = roundf(x / d) (ties away from
  zero), computed in float32 exactly as ggml's quantize_row_q8_0_ref, so the bytes equal what
  llama.cpp's own converter writes. A matrix whose rows are not a multiple of 32 is written F16
  (as llama.cpp's converter falls back) and reported.

The output is written to a temporary file in the same folder and renamed when complete. Needs
only Python 3 and numpy (Debian: python3-numpy).
"""

import argparse
import os
import struct
import sys
import tempfile

import numpy as np

GGUF_MAGIC = b"GGUF"
ALIGNMENT = 32

# GGUF metadata value types.
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STRING, T_ARRAY, T_U64, T_I64, T_F64 = \
    range(13)
SCALAR_FORMATS = {T_U8: "<B", T_I8: "<b", T_U16: "<H", T_I16: "<h", T_U32: "<I", T_I32: "<i",
                  T_F32: "<f", T_U64: "<Q", T_I64: "<q", T_F64: "<d"}
ARRAY_DTYPES = {T_U8: "<u1", T_I8: "<i1", T_U16: "<u2", T_I16: "<i2", T_U32: "<u4",
                T_I32: "<i4", T_F32: "<f4", T_U64: "<u8", T_I64: "<i8", T_F64: "<f8"}

# ggml tensor types.
GGML_F32, GGML_F16, GGML_Q8_0, GGML_I8, GGML_BF16 = 0, 1, 8, 24, 30
Q8_0_BLOCK = 32
Q8_0_BYTES = 34  # f16 scale + 32 int8
# llama.cpp's general.file_type (enum llama_ftype).
FILE_TYPES = {"f32": 0, "f16": 1, "q8_0": 7}

BLOCK_TENSORS = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
                 "ffn_gate", "ffn_up", "ffn_down")


class ExportError(Exception):
    pass


# ------------------------------------------------------------------------------ reading ours


class SourceFile:
    """Our model file: metadata (key -> (type, value)) and tensors (name -> info), the data
    memory-mapped. Only what the export needs is checked; `mobilellm` already validated the file
    when it was converted, and every inconsistency found here is still an ExportError."""

    def __init__(self, path):
        self.path = path
        self.map = np.memmap(path, dtype=np.uint8, mode="r")
        self.pos = 0
        self.metadata = {}
        self.tensors = {}
        self._parse()

    def _fail(self, what):
        raise ExportError("%s: %s (at offset %d)" % (self.path, what, self.pos))

    def _take(self, n, what):
        if n < 0 or n > len(self.map) - self.pos:
            self._fail("%s: %d bytes needed, %d left" % (what, n, len(self.map) - self.pos))
        raw = self.map[self.pos:self.pos + n].tobytes()
        self.pos += n
        return raw

    def _scalar(self, type_id, what):
        fmt = SCALAR_FORMATS[type_id]
        return struct.unpack(fmt, self._take(struct.calcsize(fmt), what))[0]

    def _string(self, what):
        n = self._scalar(T_U64, what + " length")
        try:
            return self._take(n, what).decode("utf-8")
        except UnicodeDecodeError as e:
            self._fail("%s is not UTF-8: %s" % (what, e))

    def _value(self, type_id, what):
        if type_id in SCALAR_FORMATS:
            return self._scalar(type_id, what)
        if type_id == T_BOOL:
            return self._scalar(T_U8, what) != 0
        if type_id == T_STRING:
            return self._string(what)
        if type_id == T_ARRAY:
            element = self._scalar(T_U32, what + " element type")
            count = self._scalar(T_U64, what + " count")
            if element in ARRAY_DTYPES:
                size = np.dtype(ARRAY_DTYPES[element]).itemsize
                return (element, np.frombuffer(self._take(count * size, what),
                                               dtype=ARRAY_DTYPES[element]).copy())
            if element == T_BOOL:
                return (element, np.frombuffer(self._take(count, what), dtype="<u1") != 0)
            if element == T_STRING:
                if count > (len(self.map) - self.pos) // 8:
                    self._fail("%s: %d strings cannot fit in the file" % (what, count))
                return (element, [self._string("%s[%d]" % (what, i)) for i in range(count)])
            self._fail("%s: array element type %d is not supported" % (what, element))
        self._fail("%s: unknown value type %d" % (what, type_id))

    def _parse(self):
        if self._take(4, "magic") != GGUF_MAGIC:
            self._fail("not a GGUF file (magic)")
        version = self._scalar(T_U32, "version")
        if version != 3:
            self._fail("GGUF version %d, expected 3" % version)
        tensor_count = self._scalar(T_U64, "tensor_count")
        kv_count = self._scalar(T_U64, "kv_count")
        if kv_count > 65536 or tensor_count > 65536:
            self._fail("%d keys and %d tensors: not a model file" % (kv_count, tensor_count))
        for _ in range(kv_count):
            key = self._string("key")
            type_id = self._scalar(T_U32, "type of " + key)
            self.metadata[key] = (type_id, self._value(type_id, key))
        alignment = self.metadata.get("general.alignment", (T_U32, 32))[1]
        for _ in range(tensor_count):
            name = self._string("tensor name")
            n_dims = self._scalar(T_U32, "n_dims of " + name)
            if not 1 <= n_dims <= 4:
                self._fail("tensor %s has %d dims" % (name, n_dims))
            dims = [self._scalar(T_U64, "dims of " + name) for _ in range(n_dims)]
            type_id = self._scalar(T_U32, "type of " + name)
            offset = self._scalar(T_U64, "offset of " + name)
            self.tensors[name] = (dims, type_id, offset)
        self.data_offset = -(-self.pos // alignment) * alignment

    def value(self, key, type_id=None):
        if key not in self.metadata:
            raise ExportError("%s: key %s is missing" % (self.path, key))
        t, v = self.metadata[key]
        if type_id is not None and t != type_id:
            raise ExportError("%s: key %s has type %d, expected %d" % (self.path, key, t, type_id))
        return v

    def matrix(self, name):
        """The tensor as float32 numpy array in PyTorch order ([rows, row length])."""
        if name not in self.tensors:
            raise ExportError("%s: tensor %s is missing" % (self.path, name))
        dims, type_id, offset = self.tensors[name]
        count = int(np.prod(dims, dtype=np.uint64))
        size = {GGML_F32: 4, GGML_F16: 2, GGML_BF16: 2}.get(type_id)
        if size is None:
            raise ExportError("%s: tensor %s has ggml type %d; the export reads F32, F16 and "
                              "BF16 files (convert with --type f32, f16 or bf16)"
                              % (self.path, name, type_id))
        start = self.data_offset + offset
        if start + count * size > len(self.map):
            raise ExportError("%s: tensor %s runs past the end of the file" % (self.path, name))
        raw = self.map[start:start + count * size]
        if type_id == GGML_F32:
            x = raw.view("<f4")
        elif type_id == GGML_F16:
            x = raw.view("<f2").astype(np.float32)
        else:
            x = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
        return np.array(x, dtype=np.float32).reshape(tuple(reversed(dims)))


# ------------------------------------------------------------------------------ conversions


def permute_rotary_rows(w, heads):
    """Hugging Face rotate-half row order -> llama.cpp adjacent pairs, per head (the same
    reshape as llama.cpp's convert_hf_to_gguf.py `permute`)."""
    rows = w.shape[0]
    if rows % (2 * heads):
        raise ExportError("%d rows do not split into %d heads of even size" % (rows, heads))
    return w.reshape(heads, 2, rows // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def round_half_away(x):
    """C roundf on float32 values, exactly (no x + 0.5 that could round up in float32)."""
    a = np.abs(x)
    floored = np.floor(a)
    return np.sign(x) * (floored + np.floor(2 * (a - floored)))


def quantize_q8_0(w):
    """ggml Q8_0 bytes of a float32 matrix whose rows are a multiple of 32 long."""
    blocks = np.ascontiguousarray(w, dtype=np.float32).reshape(-1, Q8_0_BLOCK)
    d = np.abs(blocks).max(axis=1) / np.float32(127)
    with np.errstate(divide="ignore"):
        inverse = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    q = round_half_away(blocks * inverse[:, None]).astype(np.int8)
    out = np.empty((blocks.shape[0], Q8_0_BYTES), dtype=np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out


class OutTensor:
    def __init__(self, name, dims, ggml_type, produce):
        self.name = name
        self.dims = dims          # GGUF order: dims[0] is the row length
        self.type = ggml_type
        self.produce = produce    # () -> bytes-like of exactly self.nbytes
        elements = int(np.prod(dims, dtype=np.uint64))
        if ggml_type == GGML_F32:
            self.nbytes = elements * 4
        elif ggml_type == GGML_F16:
            self.nbytes = elements * 2
        else:
            self.nbytes = elements // Q8_0_BLOCK * Q8_0_BYTES
        self.offset = 0


def encode(w, ggml_type):
    if ggml_type == GGML_F32:
        return np.ascontiguousarray(w, dtype="<f4").tobytes()
    if ggml_type == GGML_F16:
        return np.ascontiguousarray(w).astype("<f2").tobytes()
    return quantize_q8_0(w).tobytes()


# ------------------------------------------------------------------------------ writing


def pack_string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def pack_kv(key, type_id, value):
    out = [pack_string(key), struct.pack("<I", type_id)]
    if type_id in SCALAR_FORMATS:
        out.append(struct.pack(SCALAR_FORMATS[type_id], value))
    elif type_id == T_BOOL:
        out.append(struct.pack("<B", 1 if value else 0))
    elif type_id == T_STRING:
        out.append(pack_string(value))
    else:
        element, items = value
        out.append(struct.pack("<IQ", element, len(items)))
        if element == T_STRING:
            out.extend(pack_string(s) for s in items)
        elif element == T_BOOL:
            out.append(np.asarray(items, dtype=np.uint8).tobytes())
        else:
            out.append(np.asarray(items, dtype=ARRAY_DTYPES[element]).tobytes())
    return b"".join(out)


def build(src, out_type, name):
    """The metadata list and the tensor list of the llama.cpp file."""
    arch = src.value("general.architecture", T_STRING)
    if arch != "mobilellm":
        raise ExportError("%s: general.architecture is %r, not 'mobilellm'" % (src.path, arch))
    weight_type = src.value("mobilellm.weight_type", T_STRING)
    if weight_type not in ("F32", "F16", "BF16"):
        raise ExportError("%s: mobilellm.weight_type is %s; the export needs F32, F16 or BF16 "
                          "weights (convert with --type f16)" % (src.path, weight_type))

    def u32(key):
        return src.value("mobilellm." + key, T_U32)

    def f32(key):
        return src.value("mobilellm." + key, T_F32)

    embd, ffn = u32("embedding_length"), u32("feed_forward_length")
    heads, kv_heads = u32("attention.head_count"), u32("attention.head_count_kv")
    head_dim, stored = u32("attention.key_length"), u32("block_count")
    vocab = u32("vocab_size")
    sharing = src.value("mobilellm.layer_sharing", T_BOOL)
    tied = src.value("mobilellm.embedding_sharing", T_BOOL)
    blocks = 2 * stored if sharing else stored

    matrix_type = {"f32": GGML_F32, "f16": GGML_F16, "q8_0": GGML_Q8_0}[out_type]
    kv = [
        ("general.architecture", T_STRING, "llama"),
        ("general.name", T_STRING, name),
        ("general.alignment", T_U32, ALIGNMENT),
        ("general.file_type", T_U32, FILE_TYPES[out_type]),
    ]
    if out_type == "q8_0":
        kv.append(("general.quantization_version", T_U32, 2))
    kv += [
        ("llama.vocab_size", T_U32, vocab),
        ("llama.context_length", T_U32, u32("context_length")),
        ("llama.embedding_length", T_U32, embd),
        ("llama.block_count", T_U32, blocks),
        ("llama.feed_forward_length", T_U32, ffn),
        ("llama.attention.head_count", T_U32, heads),
        ("llama.attention.head_count_kv", T_U32, kv_heads),
        ("llama.attention.key_length", T_U32, head_dim),
        ("llama.attention.value_length", T_U32, u32("attention.value_length")),
        ("llama.rope.dimension_count", T_U32, u32("rope.dimension_count")),
        ("llama.rope.freq_base", T_F32, f32("rope.freq_base")),
        ("llama.attention.layer_norm_rms_epsilon", T_F32,
         f32("attention.layer_norm_rms_epsilon")),
    ]
    for key in ("tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                "tokenizer.ggml.token_type", "tokenizer.ggml.bos_token_id",
                "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                "tokenizer.ggml.padding_token_id", "tokenizer.ggml.add_bos_token",
                "tokenizer.ggml.add_eos_token", "tokenizer.ggml.add_space_prefix"):
        if key in src.metadata:
            t, v = src.metadata[key]
            kv.append((key, t, v))
    if src.value("tokenizer.ggml.model", T_STRING) != "llama":
        raise ExportError("%s: tokenizer.ggml.model is not 'llama'" % src.path)

    fallbacks = []

    def matrix(out_name, src_name, heads_to_permute=None):
        dims, _, _ = src.tensors.get(src_name, (None, None, None))
        if dims is None:
            raise ExportError("%s: tensor %s is missing" % (src.path, src_name))
        ggml_type = matrix_type
        if ggml_type == GGML_Q8_0 and dims[0] % Q8_0_BLOCK:
            ggml_type = GGML_F16
            fallbacks.append(out_name)

        def produce():
            w = src.matrix(src_name)
            if heads_to_permute is not None:
                w = permute_rotary_rows(w, heads_to_permute)
            return encode(w, ggml_type)

        return OutTensor(out_name, list(dims), ggml_type, produce)

    def norm(out_name, src_name):
        dims, _, _ = src.tensors.get(src_name, (None, None, None))
        if dims is None:
            raise ExportError("%s: tensor %s is missing" % (src.path, src_name))
        return OutTensor(out_name, list(dims), GGML_F32,
                         lambda: encode(src.matrix(src_name), GGML_F32))

    tensors = [matrix("token_embd.weight", "token_embd.weight"),
               norm("output_norm.weight", "output_norm.weight")]
    if not tied:
        tensors.append(matrix("output.weight", "output.weight"))
    for b in range(blocks):
        s = b // 2 if sharing else b
        for part in BLOCK_TENSORS:
            out_name, src_name = "blk.%d.%s.weight" % (b, part), "blk.%d.%s.weight" % (s, part)
            if part.endswith("_norm"):
                tensors.append(norm(out_name, src_name))
            elif part == "attn_q":
                tensors.append(matrix(out_name, src_name, heads))
            elif part == "attn_k":
                tensors.append(matrix(out_name, src_name, kv_heads))
            else:
                tensors.append(matrix(out_name, src_name))
    return kv, tensors, fallbacks, {"stored_blocks": stored, "blocks": blocks,
                                    "layer_sharing": sharing, "embedding_sharing": tied}


def write(path, kv, tensors):
    offset = 0
    for t in tensors:
        t.offset = offset
        offset += -(-t.nbytes // ALIGNMENT) * ALIGNMENT
    header = [GGUF_MAGIC, struct.pack("<IQQ", 3, len(tensors), len(kv))]
    header += [pack_kv(*entry) for entry in kv]
    for t in tensors:
        header.append(pack_string(t.name) + struct.pack("<I", len(t.dims)) +
                      struct.pack("<%dQ" % len(t.dims), *t.dims) +
                      struct.pack("<IQ", t.type, t.offset))
    header = b"".join(header)
    header += bytes(-len(header) % ALIGNMENT)

    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            for t in tensors:
                data = t.produce()
                if len(data) != t.nbytes:
                    raise ExportError("internal: %s produced %d bytes, expected %d"
                                      % (t.name, len(data), t.nbytes))
                f.write(data)
                f.write(bytes(-t.nbytes % ALIGNMENT))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="our model file (F32, F16 or BF16 weights)")
    p.add_argument("-o", "--output", required=True, help="the llama.cpp GGUF file to write")
    p.add_argument("--type", choices=sorted(FILE_TYPES), default="f16",
                   help="type of the weight matrices (default f16)")
    p.add_argument("--name", help="general.name (default: the source's)")
    p.add_argument("-q", "--quiet", action="store_true", help="no report")
    args = p.parse_args(argv)
    try:
        src = SourceFile(args.model)
        name = args.name or src.metadata.get("general.name", (T_STRING, "mobilellm"))[1]
        kv, tensors, fallbacks, shape = build(src, args.type, name)
        write(args.output, kv, tensors)
    except (ExportError, OSError, ValueError) as e:
        print("export_llama_gguf: error: %s" % e, file=sys.stderr)
        return 1
    if not args.quiet:
        size = os.path.getsize(args.output)
        print("wrote %s: %s, %d tensors, %d blocks (%d stored%s), %.1f MiB"
              % (args.output, args.type.upper(), len(tensors), shape["blocks"],
                 shape["stored_blocks"], ", layer sharing unrolled" if shape["layer_sharing"]
                 else "", size / 2**20))
        if fallbacks:
            print("written F16 (rows not a multiple of 32): " + ", ".join(fallbacks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
