"""tools/llama/export_llama_gguf.py: our model files as GGUF files llama.cpp runs.

Structure (no llama.cpp needed): the exported file is read back by this file's own GGUF reader
(written from the GGUF specification, sharing nothing with the exporter) and compared with the
Hugging Face checkpoint the model was converted from:
  - metadata: exactly the expected keys, each with its type and value (the hyper-parameters from
    config.json; the tokenizer keys equal to our file's, without merges);
  - tensors: exactly the expected names, dims and types (norms F32, matrices F16 or Q8_0; a
    matrix whose rows are not a multiple of 32 falls back to F16), aligned, not overlapping;
  - values: F16 = the source rounded to float16; Q8_0 = this file's own implementation of
    ggml's quantize_row_q8_0_ref, byte for byte, and every decoded value within half a step
    (plus the float16 rounding of the scale) of the source; Q and K rows permuted into llama.cpp's
    rotary order by an index formula written here (row 2i + j of a head = source row
    i + j * D/2);
  - layer sharing unrolled (block_count doubled, blocks 2b and 2b + 1 both equal to stored block
    b) and an untied output head kept, on a random checkpoint (seeded; the seed is printed).
Behaviour (needs llama.cpp: node-llama-cpp, installed by benchmarks/llama/install_llama_cpp.sh
into benchmarks/.llama-cpp, or $MOBILELLM_LLAMA_CPP_DIR, when absent; npm registry needed once):
  - on the real checkpoint (shared/models/tinystories-656k), llama.cpp tokenizes three prompts
    (one empty: BOS alone) exactly as `mobilellm tokenize` does, and its greedy 64-token texts on
    the exported F16 file equal `mobilellm generate --temp 0` on our F16 file;
  - the same check on a copy of the export with the Q/K permutation undone gives different texts
    (so agreement depends on the rotary order and is not vacuous);
  - the Q8_0 export loads in llama.cpp and greedily tells the known story beginning;
  - a W8A8 file is refused with a message naming the file and the weight type, and leaves no
    output behind.
"""

import json
import os
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.require_modules("numpy")

import numpy as np  # noqa: E402

import gguf_reader  # noqa: E402
import reference_model as ref  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPORTER = os.path.join(REPO, "tools", "llama", "export_llama_gguf.py")
INSTALLER = os.path.join(REPO, "benchmarks", "llama", "install_llama_cpp.sh")
GENERATE = os.path.join(REPO, "benchmarks", "llama", "llama_generate.mjs")
MODEL = "models/tinystories-656k"
TOKENIZER = "mobilellm/tokenizer/llama2-sp.model"
PROMPTS = ["", "Once upon a time, there was a little dog", "Tom and Sue went to the park"]
N_GENERATE = 64
KNOWN_BEGINNING = "Once upon a time, there was a little girl named Lily."

# ------------------------------------------------------------------------ an independent reader

GGML_F32, GGML_F16, GGML_Q8_0 = 0, 1, 8


class Exported:
    """A GGUF v3 file as llama.cpp sees it: metadata {key: (type id, value)} and tensors
    {name: dict(dims, type, offset, raw bytes)}; types F32, F16 and Q8_0 (34-byte blocks of 32)."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        self.at = 0
        if self.read(4) != b"GGUF" or self.unpack("<I") != 3:
            raise AssertionError("%s: not a GGUF v3 file" % path)
        n_tensors, n_kv = self.unpack("<Q"), self.unpack("<Q")
        self.metadata = {}
        for _ in range(n_kv):
            key = self.text()
            kind = self.unpack("<I")
            if key in self.metadata:
                raise AssertionError("%s: key %s twice" % (path, key))
            self.metadata[key] = (kind, self.value(kind))
        self.alignment = self.metadata.get("general.alignment", (4, 32))[1]
        infos = []
        for _ in range(n_tensors):
            name = self.text()
            dims = [self.unpack("<Q") for _ in range(self.unpack("<I"))]
            infos.append((name, dims, self.unpack("<I"), self.unpack("<Q")))
        start = (self.at + self.alignment - 1) // self.alignment * self.alignment
        self.tensors = {}
        spans = []
        for name, dims, kind, offset in infos:
            count = int(np.prod(dims))
            size = {GGML_F32: 4 * count, GGML_F16: 2 * count, GGML_Q8_0: count // 32 * 34}[kind]
            common.check(offset % self.alignment == 0, "%s: %s at unaligned offset %d"
                         % (path, name, offset))
            common.check(start + offset + size <= len(self.data), "%s: %s runs past the end"
                         % (path, name))
            spans.append((offset, offset + size, name))
            self.tensors[name] = {"dims": dims, "type": kind, "at": start + offset,
                                  "raw": self.data[start + offset:start + offset + size]}
        spans.sort()
        for (_, end, a), (begin, _, b) in zip(spans, spans[1:]):
            common.check(begin >= end, "%s: tensors %s and %s overlap" % (path, a, b))

    def read(self, n):
        chunk = self.data[self.at:self.at + n]
        if len(chunk) != n:
            raise AssertionError("truncated at %d" % self.at)
        self.at += n
        return chunk

    def unpack(self, fmt):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def text(self):
        return self.read(self.unpack("<Q")).decode("utf-8")

    def value(self, kind):
        simple = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 10: "<Q",
                  11: "<q", 12: "<d"}
        if kind in simple:
            return self.unpack(simple[kind])
        if kind == 7:
            return self.unpack("<B") != 0
        if kind == 8:
            return self.text()
        if kind == 9:
            inner, count = self.unpack("<I"), self.unpack("<Q")
            return (inner, [self.value(inner) for _ in range(count)])
        raise AssertionError("value type %d" % kind)

    def matrix(self, name):
        """(float32 values as llama.cpp decodes them, rows x row length)."""
        t = self.tensors[name]
        shape = tuple(reversed(t["dims"]))
        if t["type"] == GGML_F32:
            return np.frombuffer(t["raw"], "<f4").reshape(shape)
        if t["type"] == GGML_F16:
            return np.frombuffer(t["raw"], "<f2").astype(np.float32).reshape(shape)
        blocks = np.frombuffer(t["raw"], np.uint8).reshape(-1, 34)
        scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
        return (blocks[:, 2:].view(np.int8).astype(np.float32) * scale).reshape(shape)


# ------------------------------------------------------------------------ expectations


def llama_rotary_order(w, heads):
    """Rows of each head reordered so that rows 2i and 2i + 1 are source rows i and i + D/2."""
    head_dim = w.shape[0] // heads
    order = []
    for h in range(heads):
        for i in range(head_dim // 2):
            order += [h * head_dim + i, h * head_dim + head_dim // 2 + i]
    return w[np.array(order)]


def q8_0_reference(w):
    """ggml's quantize_row_q8_0_ref: per block of 32, d = amax / 127 (float32), q = roundf(x * (1
    / d)) with the product in float32 and ties away from zero; d stored as float16."""
    blocks = np.asarray(w, np.float32).reshape(-1, 32)
    d = (np.abs(blocks).max(axis=1) / np.float32(127)).astype(np.float32)
    inverse = np.zeros_like(d)
    inverse[d != 0] = np.float32(1) / d[d != 0]
    x = (blocks * inverse[:, None]).astype(np.float32).astype(np.float64)
    q = np.where(x >= 0, np.floor(x + 0.5), np.ceil(x - 0.5)).astype(np.int8)
    out = np.zeros((blocks.shape[0], 34), np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes(), d


HF_PARTS = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj",
            "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
            "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
            "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}


def expected_tensors(weights, cfg, layer_sharing, tied):
    """{llama.cpp tensor name: float32 source values, in llama.cpp's row order} from the Hugging
    Face weights."""
    embed = weights.get("model.embed_tokens.weight", weights.get("lm_head.weight"))
    out = {"token_embd.weight": embed, "output_norm.weight": weights["model.norm.weight"]}
    if not tied:
        out["output.weight"] = weights["lm_head.weight"]
    stored = cfg["num_hidden_layers"]
    for b in range(2 * stored if layer_sharing else stored):
        s = b // 2 if layer_sharing else b
        for part, hf in HF_PARTS.items():
            w = weights["model.layers.%d.%s.weight" % (s, hf)]
            if part == "attn_q":
                w = llama_rotary_order(w, cfg["num_attention_heads"])
            elif part == "attn_k":
                w = llama_rotary_order(w, cfg["num_key_value_heads"])
            out["blk.%d.%s.weight" % (b, part)] = w
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def expected_metadata(cfg, ours, out_type, layer_sharing):
    """{key: (type id, value)}: the llama.cpp keys from config.json, the tokenizer from our file."""
    heads = cfg["num_attention_heads"]
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // heads
    u32, f32, string = 4, 6, 8
    blocks = cfg["num_hidden_layers"] * (2 if layer_sharing else 1)
    want = {
        "general.architecture": (string, "llama"),
        "general.name": (string, ours.value("general.name")),
        "general.alignment": (u32, 32),
        "general.file_type": (u32, {"f16": 1, "q8_0": 7}[out_type]),
        "llama.vocab_size": (u32, cfg["vocab_size"]),
        "llama.context_length": (u32, cfg["max_position_embeddings"]),
        "llama.embedding_length": (u32, cfg["hidden_size"]),
        "llama.block_count": (u32, blocks),
        "llama.feed_forward_length": (u32, cfg["intermediate_size"]),
        "llama.attention.head_count": (u32, heads),
        "llama.attention.head_count_kv": (u32, cfg["num_key_value_heads"]),
        "llama.attention.key_length": (u32, head_dim),
        "llama.attention.value_length": (u32, head_dim),
        "llama.rope.dimension_count": (u32, head_dim),
        "llama.rope.freq_base": (f32, float(np.float32(cfg.get("rope_theta", 10000.0)))),
        "llama.attention.layer_norm_rms_epsilon": (f32, float(np.float32(cfg["rms_norm_eps"]))),
    }
    if out_type == "q8_0":
        want["general.quantization_version"] = (u32, 2)
    for key, v in ours.metadata.items():
        if key.startswith("tokenizer.ggml.") and key != "tokenizer.ggml.merges":
            value = v.value
            if v.type == gguf_reader.ARRAY:
                value = (v.element_type, [x.item() if hasattr(x, "item") else x for x in value])
            want[key] = (v.type, value)
    return want


def check_export(path, ours_path, weights, cfg, out_type, layer_sharing, tied):
    got = Exported(path)
    ours = gguf_reader.read(ours_path)
    want_md = expected_metadata(cfg, ours, out_type, layer_sharing)
    common.check(set(got.metadata) == set(want_md), "%s: keys differ: extra %s, missing %s" % (
        path, sorted(set(got.metadata) - set(want_md)), sorted(set(want_md) - set(got.metadata))))
    for key, (kind, value) in want_md.items():
        g_kind, g_value = got.metadata[key]
        common.check(g_kind == kind and g_value == value, "%s: %s is %r, want %r" % (
            path, key, (g_kind, str(g_value)[:200]), (kind, str(value)[:200])))

    want = expected_tensors(weights, cfg, layer_sharing, tied)
    common.check(set(got.tensors) == set(want), "%s: tensors differ: extra %s, missing %s" % (
        path, sorted(set(got.tensors) - set(want)), sorted(set(want) - set(got.tensors))))
    worst = 0.0
    for name, w in want.items():
        t = got.tensors[name]
        common.check(t["dims"] == list(reversed(w.shape)), "%s: %s dims %s, want %s"
                     % (path, name, t["dims"], list(reversed(w.shape))))
        if w.ndim == 1:
            common.check(t["type"] == GGML_F32 and t["raw"] == w.astype("<f4").tobytes(),
                         "%s: norm %s is not the source in F32" % (path, name))
        elif out_type == "f16" or w.shape[1] % 32:
            common.check(t["type"] == GGML_F16 and t["raw"] == w.astype("<f2").tobytes(),
                         "%s: %s is not the source rounded to F16 (type %d)"
                         % (path, name, t["type"]))
        else:
            raw, d = q8_0_reference(w)
            common.check(t["type"] == GGML_Q8_0, "%s: %s has type %d, want Q8_0"
                         % (path, name, t["type"]))
            common.check(t["raw"] == raw, "%s: %s differs from quantize_row_q8_0_ref"
                         % (path, name))
            decoded = got.matrix(name).reshape(-1, 32).astype(np.float64)
            d16 = d.astype(np.float16).astype(np.float64)
            bound = d16 / 2 + 127 * np.abs(d16 - d) + 1e-6 * np.abs(d)
            err = np.abs(decoded - w.reshape(-1, 32))
            common.check(np.all(err <= bound[:, None]), "%s: %s decodes %g away from the source"
                         % (path, name, err.max()))
            worst = max(worst, float((err / np.maximum(d16, 1e-30)[:, None]).max()))
    return got, worst


# ------------------------------------------------------------------------ running things


def export(folder, source, out_type):
    out = os.path.join(folder, "llama.%s.gguf" % out_type)
    p = subprocess.run([sys.executable, EXPORTER, source, "-o", out, "--type", out_type],
                       capture_output=True, text=True, timeout=300)
    common.check(p.returncode == 0, "export failed: %s%s" % (p.stdout, p.stderr))
    return out


def convert(cli, checkpoint, out, *flags):
    r = common.run_cli(cli, ["convert", checkpoint, "-o", out, "-q"] + list(flags), timeout=300)
    common.check(r.returncode == 0, "conversion failed\n" + r.describe())
    return out


def llama_cpp_dir():
    return os.path.abspath(os.environ.get("MOBILELLM_LLAMA_CPP_DIR")
                           or os.path.join(REPO, "benchmarks", ".llama-cpp"))


def ensure_llama_cpp():
    """node-llama-cpp in the comparison's install folder, installed from the npm registry when
    absent (about 85 MB; the installer reuses a complete install)."""
    folder = llama_cpp_dir()
    p = subprocess.run(["bash", INSTALLER, folder], capture_output=True, text=True, timeout=900)
    common.check(p.returncode == 0,
                 "installing node-llama-cpp failed:\n%s%s" % (p.stdout, p.stderr))
    print("     " + p.stdout.strip().splitlines()[-1])
    return folder


def llama_generate(folder, model, prompt):
    p = subprocess.run([os.path.join(folder, "bin", "node"), GENERATE, "--model", model,
                        "--prompt", prompt, "--n", str(N_GENERATE), "--threads", "1",
                        "--llama-dir", folder], capture_output=True, text=True, timeout=300)
    common.check(p.returncode == 0, "llama_generate.mjs failed on %s:\n%s%s"
                 % (model, p.stdout, p.stderr))
    return json.loads(p.stdout)


def ours_generate(cli, model, prompt):
    r = common.run_cli(cli, ["generate", "-m", model, "-p", prompt, "--temp", 0, "-n", N_GENERATE,
                             "-t", 1])
    common.check(r.returncode == 0, "generate failed\n" + r.describe())
    return r.stdout[:-1] if r.stdout.endswith("\n") else r.stdout


def ours_tokenize(cli, model, prompt):
    r = common.run_cli(cli, ["tokenize", "-m", model, prompt])
    common.check(r.returncode == 0, "tokenize failed\n" + r.describe())
    return [int(x) for x in r.stdout.split()]


def undo_permutation(path, out, heads, kv_heads):
    """A copy of an F16 export with every attn_q/attn_k back in Hugging Face's row order."""
    shutil.copyfile(path, out)
    f = Exported(out)
    with open(out, "r+b") as fh:
        for name, t in f.tensors.items():
            if not (name.endswith("attn_q.weight") or name.endswith("attn_k.weight")):
                continue
            h = heads if "attn_q" in name else kv_heads
            w = f.matrix(name)
            head_dim = w.shape[0] // h
            hf = np.empty_like(w)
            for row in range(w.shape[0]):  # llama row 2i + j of a head came from i + j * D/2
                head, r = divmod(row, head_dim)
                hf[head * head_dim + r // 2 + (r % 2) * head_dim // 2] = w[row]
            fh.seek(t["at"])
            fh.write(hf.astype("<f2").tobytes())


# ------------------------------------------------------------------------ cases


def main():
    args = common.parse_args(__doc__.splitlines()[0])
    shared = common.require_shared(args, MODEL + "/config.json", MODEL + "/model.safetensors",
                                   TOKENIZER)
    checkpoint = os.path.join(shared, MODEL)
    with open(os.path.join(checkpoint, "config.json")) as f:
        cfg = json.load(f)
    weights = ref.read_weights(checkpoint)
    suite = common.Suite(args, "test_llama_export")
    state = {}

    def structure_real(folder, seed):
        del seed
        ours32 = convert(args.cli, checkpoint, os.path.join(folder, "ours.f32.gguf"), "--type",
                         "f32")
        for out_type in ("f16", "q8_0"):
            out = export(folder, ours32, out_type)
            _, worst = check_export(out, ours32, weights, cfg, out_type, False, True)
            if out_type == "q8_0":
                print("     Q8_0: bit-exact with quantize_row_q8_0_ref; largest error %.3f steps"
                      % worst)

    def structure_random_ls_untied(folder, seed):
        import hf_checkpoint as hc  # needs torch
        official = hc.load_json(os.path.join(shared, "mobilellm/configs/125M/config.json"))
        config = hc.training_config(official, layers=3, vocab_size=32000, intermediate_size=80,
                                    tie_word_embeddings=False, dtype="F32", hidden_size=64,
                                    heads=4, kv_heads=2)
        sd = hc.random_state_dict(config, "F32", "both_distinct", seed)
        ckpt = os.path.join(folder, "checkpoint")
        hc.write_checkpoint(ckpt, config, sd, "safetensors",
                            tokenizer_model=os.path.join(shared, TOKENIZER))
        src = {k: v.numpy().astype(np.float64) for k, v in sd.items()}
        ours = convert(args.cli, ckpt, os.path.join(folder, "ours.gguf"), "--type", "f32",
                       "--layer-sharing", "on", "--embedding-sharing", "off")
        for out_type in ("f16", "q8_0"):
            out = export(folder, ours, out_type)
            got, _ = check_export(out, ours, src, config, out_type, True, False)
            common.check(got.metadata["llama.block_count"][1] == 6, "block_count is not 6")
            common.check(got.tensors["blk.4.ffn_gate.weight"]["raw"] ==
                         got.tensors["blk.5.ffn_gate.weight"]["raw"], "blocks 4 and 5 differ")
            if out_type == "q8_0":
                common.check(got.tensors["blk.0.ffn_down.weight"]["type"] == GGML_F16,
                             "ffn_down (rows of 80) is not the F16 fallback")

    def refuses_w8a8(folder, seed):
        del seed
        w8 = convert(args.cli, checkpoint, os.path.join(folder, "ours.w8a8.gguf"), "--type", "w8a8")
        out = os.path.join(folder, "llama.gguf")
        p = subprocess.run([sys.executable, EXPORTER, w8, "-o", out], capture_output=True,
                           text=True, timeout=120)
        common.check(p.returncode == 1 and w8 in p.stderr and "W8A8" in p.stderr,
                     "exit %d, stderr %r" % (p.returncode, p.stderr))
        common.check(sorted(os.listdir(folder)) == ["ours.w8a8.gguf"],
                     "files left behind: %s" % os.listdir(folder))

    def greedy_agreement(folder, seed):
        del seed
        llama_dir = state.setdefault("llama_dir", ensure_llama_cpp())
        ours16 = convert(args.cli, checkpoint, os.path.join(folder, "ours.f16.gguf"), "--type",
                         "f16")
        exported = export(folder, ours16, "f16")
        for prompt in PROMPTS:
            got = llama_generate(llama_dir, exported, prompt)
            want_tokens = ours_tokenize(args.cli, ours16, prompt)
            common.check(got["prompt_tokens"] == want_tokens, "prompt %r: llama.cpp tokens %s, "
                         "mobilellm %s" % (prompt, got["prompt_tokens"], want_tokens))
            text = ours_generate(args.cli, ours16, prompt)
            common.check(got["text"] == text, "prompt %r: llama.cpp greedy text\n  %r\n"
                         "mobilellm\n  %r" % (prompt, got["text"], text))
            print("     %r -> %d tokens agree: %r" % (prompt, len(got["tokens"]),
                                                     text[:60] + "..."))
        # The same with the rotary permutation undone: llama.cpp must then disagree.
        unpermuted = os.path.join(folder, "unpermuted.gguf")
        undo_permutation(exported, unpermuted, cfg["num_attention_heads"],
                         cfg["num_key_value_heads"])
        differ = 0
        for prompt in PROMPTS:
            got = llama_generate(llama_dir, unpermuted, prompt)
            differ += got["text"] != ours_generate(args.cli, ours16, prompt)
        common.check(differ == len(PROMPTS), "without the Q/K permutation, %d of %d texts still "
                     "agree" % (len(PROMPTS) - differ, len(PROMPTS)))
        print("     without the Q/K permutation: all %d texts differ" % differ)

    def q8_0_runs(folder, seed):
        del seed
        llama_dir = state.setdefault("llama_dir", ensure_llama_cpp())
        ours32 = convert(args.cli, checkpoint, os.path.join(folder, "ours.f32.gguf"), "--type",
                         "f32")
        got = llama_generate(llama_dir, export(folder, ours32, "q8_0"), "")
        common.check(len(got["tokens"]) == N_GENERATE and got["text"].startswith(KNOWN_BEGINNING),
                     "llama.cpp on the Q8_0 export: %r" % got)
        print("     %r..." % got["text"][:80])

    def q8_0_rounding(folder, seed):
        """The exporter's Q8_0 on blocks where x / d lands exactly on .5 (amax 127: d = 1), on
        zero blocks, and on random blocks, against q8_0_reference; and one block by hand."""
        del folder
        sys.path.insert(0, os.path.dirname(EXPORTER))
        import export_llama_gguf as exporter
        by_hand = np.array([127, 0.5, -0.5, 1.5, -2.5, 126.5, -126.5] + [0] * 25, np.float32)
        q = exporter.quantize_q8_0(by_hand.reshape(1, 32))[0, 2:].view(np.int8)
        common.check(list(q[:7]) == [127, 1, -1, 2, -3, 127, -127], "by hand: %s" % q[:7])
        rng = np.random.default_rng(seed)
        ties = rng.integers(-126, 126, (64, 32)).astype(np.float32) + np.float32(0.5)
        ties[:, 0] = rng.choice([-127.0, 127.0], 64)
        blocks = np.concatenate([ties, np.zeros((2, 32), np.float32),
                                 rng.standard_normal((64, 32)).astype(np.float32) * 0.02])
        want, _ = q8_0_reference(blocks)
        common.check(exporter.quantize_q8_0(blocks).tobytes() == want,
                     "quantize_q8_0 differs from quantize_row_q8_0_ref")

    suite.add("q8_0-rounding", q8_0_rounding)
    suite.add("structure-real-f16-q8_0", structure_real)
    suite.add("structure-random-ls-untied", structure_random_ls_untied)
    suite.add("refuses-w8a8", refuses_w8a8)
    if os.path.exists(os.path.join(llama_cpp_dir(), "bin", "node")) or shutil.which("npm"):
        suite.add("greedy-agreement", greedy_agreement)
        suite.add("q8_0-runs", q8_0_runs)
    else:
        print("SKIPPED greedy-agreement, q8_0-runs: llama.cpp is not installed in %s and there "
              "is no npm to install it (Debian: apt-get install nodejs npm)" % llama_cpp_dir())
    return suite.run()


if __name__ == "__main__":
    sys.exit(main())
