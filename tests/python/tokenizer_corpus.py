"""A deterministic corpus of varied text lines for the tokenizer parity tests.

corpus() returns the same list of str lines on every run of the same Python: prose, code,
numbers, whitespace runs (leading, trailing, repeated spaces and tabs, whitespace-only and empty
lines), accented Latin, Greek, Cyrillic, right-to-left scripts, Indic and South-East Asian
scripts, CJK, emoji (with modifiers, ZWJ sequences and flags), rare scripts outside the Basic
Multilingual Plane, combining marks, control and invisible characters, strings that look like
special tokens, random code points from every plane (byte-fallback cases), a few long lines,
and real text: docstrings and source lines of Python's own standard library.

No line contains '\\n' (the CLI splits files on it); '\\r' and other control characters do occur.
Every line is valid Unicode without surrogates, so it encodes to valid UTF-8.
"""

import importlib
import inspect
import random

SEED = 20250611

WORDS = """the of and to in is was for on that with as by at from it an be this which or are
have not had but all were one they their has been there would what so out up if about who
time when will more no could other into some them only may then its over also new year two
first after most people made many before through back where much way well even because any
these those good day very just know take little think how too tree story river garden window
quick brown fox jumps lazy dog morning evening light quiet water stone paper music friend
tokenizer model weight layer attention vector matrix kernel memory cache thread pointer""".split()

ACCENTED = ["café", "naïve", "Ångström", "façade", "Zürich", "São Paulo", "Dvořák", "Łódź",
            "crème brûlée", "Ærøskøbing", "Ñandú", "jalapeño", "résumé", "Škoda", "İstanbul",
            "Þórsmörk", "Fußgänger", "œuvre", "Ça va?", "señor", "coöperate", "Kraków"]
GREEK_CYRILLIC = ["Καλημέρα κόσμε", "Ελληνικά γράμματα", "Привет, мир!", "Україна", "Беларусь",
                  "Съешь же ещё этих мягких французских булок", "Ѕвезда", "ᲥᲐᲠᲗᲣᲚᲘ ქართული"]
RTL = ["مرحبا بالعالم", "שלום עולם", "سلام دنیا", "اُردو", "ܫܠܡܐ", "ދިވެހި"]
INDIC_SEA = ["नमस्ते दुनिया", "বাংলা ভাষা", "தமிழ் மொழி", "ಕನ್ನಡ", "ગુજરાતી", "ਪੰਜਾਬੀ",
             "සිංහල", "สวัสดีชาวโลก", "ສະບາຍດີ", "ភាសាខ្មែរ", "Tiếng Việt có dấu", "မြန်မာ",
             "ქართული", "Հայերեն", "አማርኛ", "ᏣᎳᎩ"]
CJK = ["你好，世界", "日本語のテキストです。", "한국어 문장입니다", "漢字かなカナ交じり文",
       "中文标点。，！？", "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ", "㍻㌀", "〜「引用」〜", "粵語", "𠀀𠀁𪚥"]
EMOJI = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "🇯🇵", "❤️", "🦀", "🧑🏿‍🚀", "✨🎉", "🏳️‍🌈",
         "#️⃣", "🫠", "☕", "⌚", "🀄", "🂡"]
RARE = ["𐌰𐌱𐌲 Gothic", "𒀀𒀁𒀂 cuneiform", "𓀀𓀁𓂀 hieroglyphs", "ᚠᚢᚦᚨᚱᚲ runes",
        "ꦗꦮ Javanese", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕯𝖔𝖚𝖇𝖑𝖊", "ⴰⵣⵓⵍ Tifinagh", "ᐊᐃᑦ syllabics", "𐐷𐐸 Deseret",
        "𖼀𖼁 Miao", "𞤀𞤁 Adlam", "ꓐꓑ Lisu", "𑀅𑀆 Brahmi", "ᠮᠣᠩᠭᠣᠯ Mongolian", "𐎀𐎁 Ugaritic"]
SYMBOLS = ["∀x ∈ ℝ: x² ≥ 0", "→ ⇒ ↔ ⟶", "© ® ™ § ¶", "½ ¼ ¾ ⅞", "€ £ ¥ ₹ ₿ ¢", "25°C",
           "…", "— –", "“quotes” ‘single’", "«guillemets» „low“", "±×÷√∞≈≠≤", "♠♣♥♦",
           "①②③", "ℵ₀", "∮ E⋅da = Q", "ⅷ", "¿¡", "※", "░▒▓█", "┌─┐│└┘"]
COMBINING = ["e\u0301", "a\u0308\u0304", "Z\u0351\u0362\u0334", "\u0915\u094d\u0937",
             "n\u0303", "\u1100\u1161\u11a8", "o\u0328\u0301", "i\u0307"]
INVISIBLE = ["\x00", "\x01", "\x1b[31mred\x1b[0m", "\x7f", "\u200b", "\u200d", "\ufeff",
             "\u00a0", "\u2028", "\u2029", "\u3000", "\r", "\x0b", "\x0c", "\u0085", "\u00ad",
             "\u2060", "\u202e", "\ufffd", "\uffff", "\U0010ffff", "\U000e0041"]
SPECIAL_LOOKING = ["<s>", "</s>", "<unk>", "<pad>", "<0x41>", "<0x0A>", "<|start_story|>",
                   "<|end_story|>", "\u2581", "\u2581\u2581x", "[INST]", "<<SYS>>", "<|im_start|>",
                   "<mask>", "<<>>", "<0xZZ>", "<tag>", "<ta", "<tag>x</tag>"]
CODE = ["def f(x):", "    return x * 2", "for (int i = 0; i < n; ++i) {", "#include <stdio.h>",
        "SELECT * FROM t WHERE id = 42;", '<div class="a">x</div>', '{"key": [1, 2.5, null]}',
        "x += y >> 3 & 0xFF;", 'fn main() { println!("hi"); }', "https://example.com/p?q=1&r=2",
        "if (a != b && c || !d) return;", "std::vector<int> v{1, 2, 3};", "$ ls -la | grep .py",
        "lambda x: x ** 2", "a_b_c = None  # comment", "\tindented\twith\ttabs",
        "/* block */ // line", "console.log(`template ${x}`);", "C:\\Users\\name\\file.txt",
        "user@example.org", "0b1011 0o17 0x1F 1e-9", "@decorator", "    \t  mixed indent",
        "foo = bar(baz)", "foo.foo()"]
PUNCTUATION = list(".,;:!?-'\"()[]{}/\\|@#$%^&*_+=~`<>")


def _prose(rng):
    words = [rng.choice(WORDS) for _ in range(rng.randint(1, 25))]
    if rng.random() < 0.6:
        words[0] = words[0].capitalize()
    for i in range(len(words)):
        if rng.random() < 0.08:
            words[i] += rng.choice(",;:")
    return " ".join(words) + rng.choice([".", "!", "?", "...", "", ".\"", ")"])


def _number(rng):
    kind = rng.randrange(8)
    if kind == 0:
        return str(rng.randint(0, 10 ** rng.randint(1, 18)))
    if kind == 1:
        return "%.*f" % (rng.randint(0, 6), rng.uniform(-1e6, 1e6))
    if kind == 2:
        return "{:,}".format(rng.randint(1000, 10 ** 12))
    if kind == 3:
        return "%04d-%02d-%02d %02d:%02d" % (rng.randint(1900, 2100), rng.randint(1, 12),
                                             rng.randint(1, 28), rng.randint(0, 23),
                                             rng.randint(0, 59))
    if kind == 4:
        return "+1 (%03d) %03d-%04d" % (rng.randint(0, 999), rng.randint(0, 999),
                                        rng.randint(0, 9999))
    if kind == 5:
        return hex(rng.getrandbits(rng.randint(4, 64)))
    if kind == 6:
        return "%d%%" % rng.randint(0, 100)
    return " ".join(str(rng.randint(0, 99)) for _ in range(rng.randint(2, 12)))


def _whitespace(rng):
    def run():
        return "".join(rng.choice("  \t") for _ in range(rng.randint(1, 8)))
    kind = rng.randrange(6)
    if kind == 0:
        return run()                                    # whitespace only
    if kind == 1:
        return run() + _prose(rng)                      # leading
    if kind == 2:
        return _prose(rng) + run()                      # trailing
    if kind == 3:
        return run().join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))  # inner runs
    if kind == 4:
        return " " * rng.randint(1, 40)                 # spaces only
    return ""                                           # empty line


def _random_code_point(rng):
    """A random Unicode scalar value (no surrogates, no '\\n'), weighted across planes."""
    ranges = [(0x20, 0x7e), (0x80, 0x7ff), (0x800, 0xd7ff), (0xe000, 0xfffd),
              (0x10000, 0x1ffff), (0x20000, 0x2ffff), (0xe0000, 0xe01ef), (0xf0000, 0x10ffff),
              (0x00, 0x1f)]
    lo, hi = rng.choice(ranges)
    while True:
        cp = rng.randint(lo, hi)
        if cp != 0x0a:
            return chr(cp)


def _random_code_points(rng):
    return "".join(_random_code_point(rng) for _ in range(rng.randint(1, 30)))


FRAGMENT_LISTS = [ACCENTED, GREEK_CYRILLIC, RTL, INDIC_SEA, CJK, EMOJI, RARE, SYMBOLS, COMBINING,
                  INVISIBLE, SPECIAL_LOOKING, CODE, PUNCTUATION]


def _fragment(rng):
    r = rng.random()
    if r < 0.25:
        return rng.choice(WORDS)
    if r < 0.3:
        return _number(rng)
    if r < 0.33:
        return _random_code_points(rng)
    return rng.choice(rng.choice(FRAGMENT_LISTS))


def _mixed(rng):
    seps = [" ", " ", " ", "", "  ", "\t", ", ", " - ", "\u3000", "\u00a0"]
    return "".join(_fragment(rng) + rng.choice(seps) for _ in range(rng.randint(1, 12)))


def _long_line(rng):
    kind = rng.randrange(4)
    if kind == 0:
        return rng.choice("a ▁\t.日😀") * rng.randint(500, 5000)      # one repeated character
    if kind == 1:
        return " ".join(_prose(rng) for _ in range(rng.randint(20, 80)))
    if kind == 2:
        return "".join(_mixed(rng) for _ in range(rng.randint(20, 60)))
    return rng.choice(WORDS) * rng.randint(100, 1000)                   # a repeated word


REAL_TEXT_MODULES = ["argparse", "collections", "csv", "datetime", "decimal", "difflib",
                     "email.message", "fractions", "heapq", "html", "http.client", "inspect",
                     "json", "logging", "os", "pathlib", "random", "re", "shutil", "string",
                     "subprocess", "tarfile", "textwrap", "typing", "unittest", "zipfile"]


def real_text_lines():
    """Docstring and source lines of a fixed list of standard-library modules (real English
    prose and real code), without their line ends."""
    lines = []
    for name in REAL_TEXT_MODULES:
        try:
            module = importlib.import_module(name)
            source = inspect.getsource(module)
        except (ImportError, OSError, TypeError):
            continue  # a trimmed-down Python: the generated lines still make the corpus
        lines.extend(line for line in source.split("\n"))
    return [line.replace("\r", "") for line in lines]


def corpus(lines=12000):
    """The corpus: `lines` generated lines interleaved with a sample of real text lines."""
    rng = random.Random(SEED)
    makers = [(_prose, 20), (_number, 6), (_whitespace, 8), (_mixed, 30), (_random_code_points, 8),
              (lambda r: r.choice(CODE), 3), (lambda r: r.choice(r.choice(FRAGMENT_LISTS)), 8)]
    total_weight = sum(w for _, w in makers)
    out = []
    for _ in range(lines):
        pick = rng.uniform(0, total_weight)
        for maker, weight in makers:
            pick -= weight
            if pick <= 0:
                break
        out.append(maker(rng))
    for _ in range(lines // 400):
        out.append(_long_line(rng))
    real = real_text_lines()
    out.extend(rng.sample(real, min(len(real), lines // 4)))
    rng.shuffle(out)
    for line in out:
        assert "\n" not in line, repr(line)
    return out


if __name__ == "__main__":
    for line in corpus():
        print(line)
