"""`mobilellm convert` on hostile and broken checkpoint folders: every one must fail cleanly.

Hostile pickles: torch.save archives whose data.pkl is replaced by a pickle that would run a
command when loaded by Python's pickle module (os.system, posix.system, builtins.eval/exec,
__builtin__.eval, subprocess.Popen/check_output, INST, protocol-4 STACK_GLOBAL, a real object
whose __reduce__ returns os.system), or that misuses the allowed globals. A control run of
Python's own unpickler proves each command payload live; the converter must reject it naming
the global or opcode, the payload's sentinel file must not appear, and nothing may be left in
the output folder (no model file, no temporary file).

Broken folders: embedding-sharing contradictions, head counts that do not divide, a missing
tokenizer, truncated or malformed weight files, a missing or mis-shaped tensor, a shard index
pointing outside the folder. Each must end with exit code 1 (an error, not a crash or an
internal error), a message naming the problem, and an empty output folder.
"""

import collections
import json
import os
import pickle
import shlex
import shutil
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.require_modules("numpy", "torch", "sentencepiece")

import hf_checkpoint as hc  # noqa: E402

# A LLaMA training-form config; sizes are patched per case (9 heads of 8: hidden 72).
BASE_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "bos_token_id": 1,
    "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 72, "initializer_range": 0.02,
    "intermediate_size": 32, "max_position_embeddings": 256, "model_type": "llama",
    "num_attention_heads": 9, "num_hidden_layers": 2, "num_key_value_heads": 3,
    "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 10000.0,
    "tie_word_embeddings": True, "torch_dtype": "float16", "use_cache": True, "vocab_size": 512,
}
# What turns it into the release form, with embeddings explicitly not shared.
RELEASE_UNSHARED = {
    "architectures": ["MobileLLMForCausalLM"], "model_type": "mobilellm", "head_dim": 8,
    "share_embedding": False, "layer_sharing": False, "tie_word_embeddings": False,
}


# ---------------------------------------------------------------------------------------------
# A small pickle assembler (opcodes as listed by Python's pickletools).

def proto(n):
    return b"\x80" + bytes([n])


def global_(module, name):                    # GLOBAL: 'c' module '\n' name '\n'
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def inst(module, name):                       # INST: 'i' module '\n' name '\n' (after MARK)
    return b"i" + module.encode() + b"\n" + name.encode() + b"\n"


def unicode(s):                               # BINUNICODE: u32 length + UTF-8
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def short_unicode(s):                         # SHORT_BINUNICODE (protocol 4): u8 length
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def int1(n):                                  # BININT1
    return b"K" + bytes([n])


MARK, TUPLE, TUPLE1, EMPTY_TUPLE, EMPTY_LIST, APPENDS = b"(", b"t", b"\x85", b")", b"]", b"e"
REDUCE, SETITEMS, STOP, BINPERSID, NEWFALSE = b"R", b"u", b".", b"Q", b"\x89"
STACK_GLOBAL, EXT1 = b"\x93", b"\x82"


def call(module, name, *arg_bytes):
    """module.name(*args) by GLOBAL + args tuple + REDUCE."""
    return global_(module, name) + MARK + b"".join(arg_bytes) + TUPLE + REDUCE


def in_state_dict(value, protocol=2):
    """A pickle of OrderedDict({'model.norm.weight': <value>}), as torch.save would start it."""
    return (proto(protocol) + global_("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
            + MARK + unicode("model.norm.weight") + value + SETITEMS + STOP)


def rebuild_tensor(storage_module, storage_name, key, numel):
    """_rebuild_tensor_v2(persistent storage, 0, (numel,), (1,), False, OrderedDict())."""
    persistent = (MARK + unicode("storage") + global_(storage_module, storage_name) + unicode(key)
                  + unicode("cpu") + int1(numel) + TUPLE + BINPERSID)
    return call("torch._utils", "_rebuild_tensor_v2", persistent, int1(0), MARK + int1(numel)
                + TUPLE, MARK + int1(1) + TUPLE, NEWFALSE,
                global_("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE)


class Evil:
    """What an attacker pickles: loading it runs os.system(command)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def touch(path):
    return "touch " + shlex.quote(path)


def run_python_code(path):
    return "__import__('os').system(%r)" % touch(path)


# name -> (function(sentinel path) -> pickle bytes, words one of which the error must name)
COMMAND_PAYLOADS = {
    "os-system": (lambda p: in_state_dict(call("os", "system", unicode(touch(p)))),
                  ["os.system", "os system"]),
    "posix-system": (lambda p: in_state_dict(call("posix", "system", unicode(touch(p)))),
                     ["posix.system", "posix system"]),
    "builtins-eval": (
        lambda p: in_state_dict(call("builtins", "eval", unicode(run_python_code(p)))),
        ["builtins.eval", "builtins eval"]),
    "builtins-exec": (
        lambda p: in_state_dict(call("builtins", "exec", unicode(run_python_code(p)))),
        ["builtins.exec", "builtins exec"]),
    "__builtin__-eval": (
        lambda p: in_state_dict(call("__builtin__", "eval", unicode(run_python_code(p)))),
        ["__builtin__.eval", "__builtin__ eval"]),
    "subprocess-Popen": (
        lambda p: in_state_dict(call("subprocess", "Popen", EMPTY_LIST + MARK + unicode("touch")
                                     + unicode(p) + APPENDS)),
        ["subprocess.Popen", "subprocess Popen"]),
    "subprocess-check_output": (
        lambda p: in_state_dict(call("subprocess", "check_output", EMPTY_LIST + MARK
                                     + unicode("touch") + unicode(p) + APPENDS)),
        ["subprocess.check_output", "subprocess check_output"]),
    "inst-os-system": (lambda p: in_state_dict(MARK + unicode(touch(p)) + inst("os", "system")),
                       ["INST", "os.system", "os system"]),
    # STACK_GLOBAL in a pickle that declares protocol 2 (Python's unpickler does not care),
    # then in a protocol-4 one, which may be refused for its protocol alone.
    "stack-global-os-system": (
        lambda p: in_state_dict(unicode("os") + unicode("system") + STACK_GLOBAL
                                + unicode(touch(p)) + TUPLE1 + REDUCE),
        ["STACK_GLOBAL", "os.system", "os system"]),
    "protocol4-stack-global": (
        lambda p: in_state_dict(short_unicode("os") + short_unicode("system") + STACK_GLOBAL
                                + unicode(touch(p)) + TUPLE1 + REDUCE, protocol=4),
        ["STACK_GLOBAL", "os.system", "os system", "protocol 4"]),
    "real-object-protocol2": (
        lambda p: pickle.dumps(collections.OrderedDict([("model.norm.weight", Evil(touch(p)))]),
                               protocol=2),
        ["posix.system", "posix system"]),
    "real-object-protocol4": (
        lambda p: pickle.dumps(collections.OrderedDict([("model.norm.weight", Evil(touch(p)))]),
                               protocol=4),
        ["STACK_GLOBAL", "FRAME", "posix.system", "posix system", "protocol 4"]),
}

# Pickles that run nothing but misuse what the allow-list permits, or use what it does not.
MISUSE_PAYLOADS = {
    "rebuild-tensor-wrong-args": (
        in_state_dict(call("torch._utils", "_rebuild_tensor_v2", unicode("x"))),
        ["_rebuild_tensor_v2"]),
    "ordereddict-wrong-args": (
        in_state_dict(call("collections", "OrderedDict", unicode("touch x"))), ["OrderedDict"]),
    "storage-class-called": (
        in_state_dict(call("torch", "HalfStorage", int1(4))), ["HalfStorage"]),
    "unlisted-storage-type": (
        in_state_dict(rebuild_tensor("torch", "LongStorage", "0", 4)), ["LongStorage"]),
    "ext1-opcode": (in_state_dict(EXT1 + bytes([1])), ["EXT1", "0x82"]),
}


def main():
    args = common.parse_args(__doc__.splitlines()[0])
    tokenizer_cache = os.path.join(args.workdir, "tokenizers")

    def base_checkpoint(folder, seed, weights="bin", embeddings="embed_only", **config_changes):
        """Writes a small valid checkpoint folder (F16) and returns its path."""
        tok = hc.train_sentencepiece(tokenizer_cache)
        config = dict(BASE_CONFIG, **config_changes)
        sd = hc.random_state_dict(config, "F16", embeddings, seed)
        ckpt = os.path.join(folder, "ckpt")
        hc.write_checkpoint(ckpt, config, sd, weights, tok)
        return ckpt

    def must_fail(folder, ckpt, words, *flags, sentinel=None):
        """Converts and requires a clean failure: exit code 1, a message naming the problem
        (one of `words`; a tuple in `words` means all of its words), nothing in the output
        folder, the input folder untouched, no sentinel file."""
        out_dir = os.path.join(folder, "out")
        os.makedirs(out_dir)
        before = sorted(os.listdir(ckpt))
        r = common.run_cli(args.cli, ["convert", ckpt, "-o", os.path.join(out_dir, "model.gguf")]
                           + list(flags))
        common.check(r.returncode == 1, "expected exit code 1 (error)\n" + r.describe())
        message = (r.stdout + r.stderr).lower()
        alternatives = [(w,) if isinstance(w, str) else w for w in words]
        common.check(any(all(w.lower() in message for w in alt) for alt in alternatives),
                     "the error names none of %s\n%s" % (words, r.describe()))
        common.check(os.listdir(out_dir) == [],
                     "left in the output folder: %s" % os.listdir(out_dir))
        common.check(sorted(os.listdir(ckpt)) == before, "the input folder changed")
        if sentinel is not None:
            common.check(not os.path.exists(sentinel), "the payload ran: %s exists" % sentinel)

    def prove_live(folder, make_payload):
        """Python's own unpickler runs the payload: the control sentinel appears."""
        control = os.path.join(folder, "CONTROL_SENTINEL")
        pkl = os.path.join(folder, "control.pkl")
        with open(pkl, "wb") as f:
            f.write(make_payload(control))
        code = "import pickle, sys; pickle.loads(open(sys.argv[1], 'rb').read())"
        subprocess.run([sys.executable, "-c", code, pkl], capture_output=True, timeout=60)
        deadline = time.monotonic() + 10  # subprocess.Popen runs `touch` asynchronously
        while not os.path.exists(control) and time.monotonic() < deadline:
            time.sleep(0.05)
        common.check(os.path.exists(control), "control: the payload did not run under pickle")
        os.remove(control)
        os.remove(pkl)

    def command_payload(make_payload, words):
        def run(folder, seed):
            prove_live(folder, make_payload)
            ckpt = base_checkpoint(folder, seed)
            sentinel = os.path.join(folder, "SENTINEL")
            bin_path = os.path.join(ckpt, "pytorch_model.bin")
            hc.replace_torch_pickle(bin_path, bin_path, make_payload(sentinel))
            must_fail(folder, ckpt, words, sentinel=sentinel)
        return run

    def misuse_payload(payload, words):
        def run(folder, seed):
            ckpt = base_checkpoint(folder, seed)
            bin_path = os.path.join(ckpt, "pytorch_model.bin")
            hc.replace_torch_pickle(bin_path, bin_path, payload)
            must_fail(folder, ckpt, words)
        return run

    def control_rewritten_archive(folder, seed):
        """The archive rewriter itself: an unmodified data.pkl rewritten the same way converts."""
        ckpt = base_checkpoint(folder, seed)
        bin_path = os.path.join(ckpt, "pytorch_model.bin")
        members = hc.read_zip(bin_path)
        pkl = [d for n, d in members if n.endswith("/data.pkl")][0]
        hc.replace_torch_pickle(bin_path, bin_path, pkl)
        out = os.path.join(folder, "model.gguf")
        r = common.run_cli(args.cli, ["convert", ckpt, "-o", out])
        common.check(r.returncode == 0 and os.path.exists(out), r.describe())

    def failure_keeps_previous_output(folder, seed):
        """A failed conversion leaves an existing output file exactly as it was."""
        ckpt = base_checkpoint(folder, seed)
        sentinel = os.path.join(folder, "SENTINEL")
        bin_path = os.path.join(ckpt, "pytorch_model.bin")
        make_payload = COMMAND_PAYLOADS["os-system"][0]
        hc.replace_torch_pickle(bin_path, bin_path, make_payload(sentinel))
        out_dir = os.path.join(folder, "out")
        os.makedirs(out_dir)
        out = os.path.join(out_dir, "model.gguf")
        previous = b"the model file of an earlier conversion"
        with open(out, "wb") as f:
            f.write(previous)
        r = common.run_cli(args.cli, ["convert", ckpt, "-o", out])
        common.check(r.returncode == 1, "expected exit code 1 (error)\n" + r.describe())
        common.check(os.listdir(out_dir) == ["model.gguf"],
                     "the output folder holds %s" % os.listdir(out_dir))
        with open(out, "rb") as f:
            common.check(f.read() == previous, "the existing output file was changed")
        common.check(not os.path.exists(sentinel), "the payload ran: %s exists" % sentinel)

    def broken(change, words, flags=(), **ckpt_kwargs):
        """A checkpoint folder altered by change(ckpt) after it is written."""
        def run(folder, seed):
            ckpt = base_checkpoint(folder, seed, **ckpt_kwargs)
            change(ckpt)
            must_fail(folder, ckpt, words, *flags)
        return run

    def nothing(ckpt):
        del ckpt

    def remove(name):
        return lambda ckpt: os.remove(os.path.join(ckpt, name))

    def truncate(name, keep_fraction):
        def change(ckpt):
            path = os.path.join(ckpt, name)
            size = os.path.getsize(path)
            os.truncate(path, int(size * keep_fraction))
        return change

    def huge_safetensors_header(ckpt):
        with open(os.path.join(ckpt, "model.safetensors"), "r+b") as f:
            f.write(struct.pack("<Q", 1 << 62))

    def rewrite_safetensors(edit):
        """Rewrites model.safetensors with edit(state dict) applied."""
        def change(ckpt):
            path = os.path.join(ckpt, "model.safetensors")
            sd = hc.read_safetensors(path)
            edit(sd)
            hc.write_safetensors(path, sd)
        return change

    def drop_down_proj(sd):
        del sd["model.layers.1.mlp.down_proj.weight"]

    def short_k_proj(sd):
        name = "model.layers.0.self_attn.k_proj.weight"
        sd[name] = sd[name][:-8]  # one kv head's 8 rows short

    def f64_norm(sd):
        sd["model.norm.weight"] = sd["model.norm.weight"].double()

    def index_outside(ckpt):
        """The index sends one tensor to a shard outside the folder, one that exists and holds
        it: only the path rule can refuse it."""
        path = os.path.join(ckpt, "model.safetensors.index.json")
        index = hc.load_json(path)
        first = sorted(index["weight_map"])[0]
        shutil.copyfile(os.path.join(ckpt, index["weight_map"][first]),
                        os.path.join(ckpt, "..", "outside.safetensors"))
        index["weight_map"][first] = "../outside.safetensors"
        with open(path, "w") as f:
            json.dump(index, f)

    def bad_json(ckpt):
        with open(os.path.join(ckpt, "config.json"), "w") as f:
            f.write('{"hidden_size": 72, ')

    suite = common.Suite(args, "test_convert_hostile")
    suite.add("control-rewritten-archive-converts", control_rewritten_archive)
    for name, (make_payload, words) in COMMAND_PAYLOADS.items():
        suite.add("pickle-" + name, command_payload(make_payload, words))
    for name, (payload, words) in MISUSE_PAYLOADS.items():
        suite.add("pickle-" + name, misuse_payload(payload, words))
    suite.add("failure-keeps-previous-output", failure_keeps_previous_output)

    # An embedding contradiction names both tensors.
    emb = [("embed_tokens", "lm_head")]
    suite.add("tied-but-distinct-embeddings",
              broken(nothing, emb, weights="safetensors", embeddings="both_distinct",
                     tie_word_embeddings=True))
    suite.add("share-embedding-false-but-embed-only",
              broken(nothing, emb, weights="safetensors", embeddings="embed_only",
                     **RELEASE_UNSHARED))
    suite.add("share-embedding-false-but-lm-head-only",
              broken(nothing, emb, weights="safetensors", embeddings="lm_head_only",
                     **RELEASE_UNSHARED))
    suite.add("embedding-sharing-off-but-embed-only",
              broken(nothing, emb, flags=["--embedding-sharing", "off"],
                     weights="safetensors", embeddings="embed_only"))
    suite.add("embedding-sharing-on-but-distinct",
              broken(nothing, emb, flags=["--embedding-sharing", "on"], weights="safetensors",
                     embeddings="both_distinct", tie_word_embeddings=False))
    suite.add("heads-not-dividing-hidden",
              broken(nothing, ["num_attention_heads", "hidden_size"], weights="safetensors",
                     num_attention_heads=7, num_key_value_heads=7))
    suite.add("kv-heads-not-dividing-heads",
              broken(nothing, ["num_key_value_heads"], weights="safetensors",
                     num_key_value_heads=4))
    suite.add("missing-tokenizer", broken(remove("tokenizer.model"), ["tokenizer"],
                                          weights="safetensors"))
    suite.add("truncated-safetensors", broken(truncate("model.safetensors", 0.5),
                                              ["model.safetensors"], weights="safetensors"))
    suite.add("huge-safetensors-header", broken(huge_safetensors_header, ["model.safetensors"],
                                                weights="safetensors"))
    suite.add("f64-tensor", broken(rewrite_safetensors(f64_norm), ["F64"], weights="safetensors"))
    suite.add("missing-tensor", broken(rewrite_safetensors(drop_down_proj),
                                       ["model.layers.1.mlp.down_proj.weight"],
                                       weights="safetensors"))
    suite.add("wrong-tensor-shape", broken(rewrite_safetensors(short_k_proj),
                                           ["model.layers.0.self_attn.k_proj.weight"],
                                           weights="safetensors"))
    suite.add("truncated-pytorch-bin", broken(truncate("pytorch_model.bin", 0.6),
                                              ["pytorch_model.bin"]))
    suite.add("shard-index-outside-folder", broken(index_outside, ["outside.safetensors"],
                                                   weights="sharded"))
    suite.add("config-not-json", broken(bad_json, ["config.json"], weights="safetensors"))
    return suite.run()


if __name__ == "__main__":
    sys.exit(main())
