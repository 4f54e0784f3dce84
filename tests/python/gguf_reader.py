"""A minimal, strict GGUF v3 reader in pure Python + numpy: the oracle of the converter tests.

Written from the GGUF specification alone (it shares nothing with the C++ reader), so that a
file the converter writes is judged by a second, independent reading of the format:

    header   : magic "GGUF" (u32 0x46554747), version u32 (= 3), tensor_count u64, kv_count u64
    kv pair  : key (string), value type u32, value
    string   : u64 byte length, UTF-8 bytes (no terminator)
    array    : element type u32, u64 count, elements (arrays may nest)
    tensor   : name (string), n_dims u32, dims u64[n_dims] (dims[0] varies fastest), ggml type u32,
               offset u64 (relative to the data section; a multiple of the alignment)
    data     : starts at the end of the tensor infos rounded up to `general.alignment`
               (32 when the key is absent)

Everything is little-endian. Only the tensor types a mobilellm file may hold are understood
(F32, F16, BF16, I8); anything else, and any structural inconsistency, raises GGUFError.
"""

import struct

import numpy as np

GGUF_MAGIC = 0x46554747
DEFAULT_ALIGNMENT = 32

# Metadata value types.
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
VALUE_TYPE_NAMES = {
    U8: "u8", I8: "i8", U16: "u16", I16: "i16", U32: "u32", I32: "i32", F32: "f32",
    BOOL: "bool", STRING: "string", ARRAY: "array", U64: "u64", I64: "i64", F64: "f64",
}
# Fixed-size scalar value types: struct format and numpy dtype.
_SCALAR = {
    U8: ("<B", "<u1"), I8: ("<b", "<i1"), U16: ("<H", "<u2"), I16: ("<h", "<i2"),
    U32: ("<I", "<u4"), I32: ("<i", "<i4"), F32: ("<f", "<f4"), U64: ("<Q", "<u8"),
    I64: ("<q", "<i8"), F64: ("<d", "<f8"),
}

# Tensor (ggml) types: id -> (name, bytes per element, numpy dtype of the raw elements).
# BF16 is returned as its raw uint16 bit patterns: numpy has no bfloat16.
TENSOR_TYPES = {
    0: ("F32", 4, "<f4"),
    1: ("F16", 2, "<f2"),
    24: ("I8", 1, "<i1"),
    30: ("BF16", 2, "<u2"),
}
TYPE_ID = {name: tid for tid, (name, _, _) in TENSOR_TYPES.items()}


class GGUFError(ValueError):
    pass


class Value:
    """A metadata value: its GGUF type, the element type for arrays, and the Python value.

    Scalars are int / float / bool / str; numeric arrays are numpy arrays; string arrays are
    lists of str; nested arrays are lists of Value.
    """

    def __init__(self, type_id, value, element_type=None):
        self.type = type_id
        self.element_type = element_type
        self.value = value

    def type_name(self):
        if self.type == ARRAY:
            return "array[%s]" % VALUE_TYPE_NAMES[self.element_type]
        return VALUE_TYPE_NAMES[self.type]

    def __repr__(self):
        return "Value(%s, %r)" % (self.type_name(), self.value)


class Tensor:
    def __init__(self, name, type_id, dims, offset, info_offset):
        self.name = name
        self.type_id = type_id
        self.type_name = TENSOR_TYPES[type_id][0]
        self.dims = dims                       # GGUF order, dims[0] fastest
        self.shape = tuple(reversed(dims))     # numpy / PyTorch order
        self.offset = offset                   # relative to the data section
        self.info_offset = info_offset
        self.nelements = int(np.prod(dims, dtype=np.uint64)) if dims else 1
        self.nbytes = self.nelements * TENSOR_TYPES[type_id][1]
        self.data = None                       # numpy array of raw elements, shape `shape`

    def bits(self):
        """The elements as unsigned integer bit patterns (uint32 for F32, uint16 for F16/BF16)."""
        if self.type_name == "F32":
            return self.data.view("<u4")
        if self.type_name in ("F16", "BF16"):
            return self.data.view("<u2")
        return self.data.view("<u1")


class _Cursor:
    def __init__(self, buf, path):
        self.buf = buf
        self.pos = 0
        self.path = path

    def fail(self, what, at=None):
        raise GGUFError("%s: %s (at offset %d)" % (self.path, what, self.pos if at is None else at))

    def take(self, n, what):
        if n < 0 or n > len(self.buf) - self.pos:
            self.fail("%s: %d bytes needed, %d left" % (what, n, len(self.buf) - self.pos))
        start = self.pos
        self.pos += n
        return self.buf[start:self.pos]

    def scalar(self, type_id, what):
        fmt, _ = _SCALAR[type_id]
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def u32(self, what):
        return self.scalar(U32, what)

    def u64(self, what):
        return self.scalar(U64, what)

    def string(self, what):
        at = self.pos
        n = self.u64(what + " length")
        raw = self.take(n, what)
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError as e:
            self.fail("%s is not valid UTF-8: %s" % (what, e), at)

    def value(self, type_id, what):
        if type_id in _SCALAR:
            return self.scalar(type_id, what)
        if type_id == BOOL:
            b = self.scalar(U8, what)
            if b > 1:
                self.fail("%s: bool byte is %d, not 0 or 1" % (what, b), self.pos - 1)
            return bool(b)
        if type_id == STRING:
            return self.string(what)
        self.fail("%s: unknown value type %d" % (what, type_id))

    def array(self, what):
        element_type = self.u32(what + " element type")
        count = self.u64(what + " count")
        if element_type in _SCALAR:
            fmt, dtype = _SCALAR[element_type]
            raw = self.take(count * struct.calcsize(fmt), what)
            return Value(ARRAY, np.frombuffer(raw, dtype=dtype).copy(), element_type)
        if element_type == BOOL:
            raw = np.frombuffer(self.take(count, what), dtype="<u1")
            if raw.size and raw.max() > 1:
                self.fail("%s: bool array holds a byte other than 0 or 1" % what)
            return Value(ARRAY, raw.astype(bool), element_type)
        if element_type == STRING:
            # Each string needs at least its 8-byte length: bound the count before looping.
            if count > (len(self.buf) - self.pos) // 8:
                self.fail("%s: %d strings cannot fit in the file" % (what, count))
            return Value(ARRAY, [self.string("%s[%d]" % (what, i)) for i in range(count)],
                         element_type)
        if element_type == ARRAY:
            if count > (len(self.buf) - self.pos) // 12:
                self.fail("%s: %d nested arrays cannot fit in the file" % (what, count))
            return Value(ARRAY, [self.array("%s[%d]" % (what, i)) for i in range(count)],
                         element_type)
        self.fail("%s: unknown array element type %d" % (what, element_type))


class GGUFFile:
    """A parsed GGUF v3 file: `metadata` (key -> Value, in file order), `tensors` (name ->
    Tensor, in file order, each with `.data` a read-only numpy array of its raw elements)."""

    def __init__(self, path):
        self.path = str(path)
        with open(path, "rb") as f:
            self.raw = f.read()
        self.metadata = {}
        self.tensors = {}
        self._parse()

    # -- accessors -------------------------------------------------------------------------
    def value(self, key):
        """The Python value of `key`; KeyError naming the file when absent."""
        if key not in self.metadata:
            raise KeyError("%s: no metadata key %r" % (self.path, key))
        return self.metadata[key].value

    def tensor(self, name):
        if name not in self.tensors:
            raise KeyError("%s: no tensor %r" % (self.path, name))
        return self.tensors[name]

    # -- parsing -------------------------------------------------------------------------
    def _parse(self):
        c = _Cursor(memoryview(self.raw), self.path)
        magic = c.u32("magic")
        if magic != GGUF_MAGIC:
            c.fail("magic is 0x%08x, not 'GGUF'" % magic, 0)
        self.version = c.u32("version")
        if self.version != 3:
            c.fail("version is %d, this reader knows 3" % self.version, 4)
        tensor_count = c.u64("tensor_count")
        kv_count = c.u64("metadata_kv_count")
        # A key-value pair takes at least 8+0+4+1 bytes, a tensor info at least 8+4+4+8 bytes.
        if kv_count > len(self.raw) // 13 or tensor_count > len(self.raw) // 24:
            c.fail("counts (%d tensors, %d keys) cannot fit in a %d-byte file"
                   % (tensor_count, kv_count, len(self.raw)), 8)

        for _ in range(kv_count):
            at = c.pos
            key = c.string("metadata key")
            if key in self.metadata:
                c.fail("duplicate metadata key %r" % key, at)
            type_id = c.u32("type of %r" % key)
            if type_id == ARRAY:
                self.metadata[key] = c.array(key)
            else:
                self.metadata[key] = Value(type_id, c.value(type_id, key))

        self.alignment = DEFAULT_ALIGNMENT
        if "general.alignment" in self.metadata:
            a = self.metadata["general.alignment"]
            if a.type != U32 or a.value == 0 or a.value & (a.value - 1):
                c.fail("general.alignment must be a u32 power of two, got %r" % a)
            self.alignment = a.value

        for _ in range(tensor_count):
            at = c.pos
            name = c.string("tensor name")
            if name in self.tensors:
                c.fail("duplicate tensor %r" % name, at)
            n_dims = c.u32("n_dims of %r" % name)
            if not 1 <= n_dims <= 4:
                c.fail("tensor %r has %d dims" % (name, n_dims), at)
            dims = [c.u64("dims of %r" % name) for _ in range(n_dims)]
            if any(d == 0 for d in dims):
                c.fail("tensor %r has a zero dimension: %s" % (name, dims), at)
            type_id = c.u32("type of %r" % name)
            if type_id not in TENSOR_TYPES:
                c.fail("tensor %r has ggml type %d, not one of %s"
                       % (name, type_id, sorted(TENSOR_TYPES)), at)
            offset = c.u64("offset of %r" % name)
            if offset % self.alignment:
                c.fail("tensor %r offset %d is not a multiple of %d"
                       % (name, offset, self.alignment), at)
            self.tensors[name] = Tensor(name, type_id, dims, offset, at)

        self.data_offset = -(-c.pos // self.alignment) * self.alignment
        if self.data_offset > len(self.raw):
            c.fail("data section would start at %d, past the end of the file" % self.data_offset)
        data_size = len(self.raw) - self.data_offset

        extents = []
        for t in self.tensors.values():
            if t.offset + t.nbytes > data_size:
                c.fail("tensor %r [%d, %d) runs past the data section (%d bytes)"
                       % (t.name, t.offset, t.offset + t.nbytes, data_size), t.info_offset)
            extents.append((t.offset, t.offset + t.nbytes, t.name))
            start = self.data_offset + t.offset
            arr = np.frombuffer(self.raw, dtype=TENSOR_TYPES[t.type_id][2], count=t.nelements,
                                offset=start)
            t.data = arr.reshape(t.shape)
        extents.sort()
        for (_, end_a, name_a), (start_b, _, name_b) in zip(extents, extents[1:]):
            if start_b < end_a:
                raise GGUFError("%s: tensors %r and %r overlap" % (self.path, name_a, name_b))


def read(path):
    return GGUFFile(path)
