import collections
import unicodedata

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlpkit.text import (
    BOS_ID,
    EOS_ID,
    OOV_ID,
    PAD_ID,
    CharacterTokenizer,
    WordPieceTokenizer,
    WordsAndIds,
    WordTokenizer,
)
from tests.layer_checks import assert_config_round_trip, assert_model_saves_and_loads

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="tokenizers are TensorFlow preprocessing"
)

VALID_TEXTS = [
    "The cat sat on the mat.",
    "ﬁne Ｆｕｌｌ width ①",
    "  leading and trailing  ",
    "",
    "   \t\n ",
    "emoji 👍🏽 and 🇪🇸 flags 👨‍👩‍👧",
    "mixed Русский 東京 text عربي",
    "tabs\tand\nnewlines",
    "café naïve e\u0301",
]
# Inputs that must never crash a graph: invalid UTF-8 of several kinds, control and
# zero-width characters, lone combining marks, an encoded surrogate, a long string.
BAD_TEXTS = [
    b"\xff\xfe",
    b"ok \xc3\x28 bad",
    b"\xed\xa0\x80 surrogate",
    b"trunc\xe2\x82",
    b"\x00nul\x00",
    "\u200b\u200d",
    "\u0301\u0301",
    "a" * 5000,
    "[PAD] [UNK] [BOS] [EOS]",
]
CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
    "unaffable affable unable able",
    "the cats and the dogs sat",
] * 4


def _as_str(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _python_words(text, lowercase):
    # The reference: Python's own NFKC and whitespace split.
    words = unicodedata.normalize("NFKC", text).split()
    return [word.lower() for word in words] if lowercase else words


def _rows(ragged):
    return [list(row) for row in ragged.to_list()]


def test_word_ids_match_a_python_reference():
    tokenizer = WordTokenizer(split="whitespace", lowercase=True)
    texts = VALID_TEXTS[:4] + VALID_TEXTS[5:]
    tokenizer.adapt(texts)
    vocab = tokenizer.vocabulary
    expected = [vocab.encode(_python_words(text, lowercase=True)) for text in texts]
    assert _rows(tokenizer.tokenize(texts)) == expected
    counts = collections.Counter(w for text in texts for w in _python_words(text, True))
    assert tokenizer.count_tokens(texts) == counts


def test_word_offsets_point_at_the_source_bytes():
    tokenizer = WordTokenizer(split="whitespace", lowercase=True, add_bos=True, add_eos=True)
    tokenizer.adapt(VALID_TEXTS)
    ids, starts, ends = tokenizer.tokenize_with_offsets(VALID_TEXTS)
    assert _rows(ids) == _rows(tokenizer.tokenize(VALID_TEXTS))
    for text, row_ids, row_starts, row_ends in zip(
        VALID_TEXTS, ids.to_list(), starts.to_list(), ends.to_list()
    ):
        source = text.encode("utf-8")
        assert row_ids[0] == BOS_ID and (row_starts[0], row_ends[0]) == (0, 0)
        assert row_ids[-1] == EOS_ID and row_starts[-1] == row_ends[-1] == len(source)
        for token_id, start, end in zip(row_ids[1:-1], row_starts[1:-1], row_ends[1:-1]):
            piece = unicodedata.normalize("NFKC", source[start:end].decode("utf-8")).lower()
            assert tokenizer.vocabulary.token_to_id(piece) == token_id
    # "ﬁne" (3 + 2 bytes) normalizes to "fine": the span covers the ligature
    row = VALID_TEXTS.index("ﬁne Ｆｕｌｌ width ①")
    assert (starts[row][1].numpy(), ends[row][1].numpy()) == (0, 5)


def test_unicode_script_split_separates_punctuation_and_scripts():
    tokenizer = WordTokenizer(lowercase=True)
    counts = tokenizer.count_tokens(["Don't stop!", "東京tower"])
    assert counts == collections.Counter(["don", "'", "t", "stop", "!", "東京", "tower"])


def test_lookup_of_presplit_words_matches_tokenize():
    tokenizer = WordTokenizer(split="whitespace", lowercase=True)
    tokenizer.adapt(CORPUS)
    words = tf.ragged.constant([["The", "CAT", "zebra"], ["ﬁne"], []])
    expected = tokenizer.tokenize(["The CAT zebra", "ﬁne", ""])
    assert tokenizer.lookup(words).to_list() == expected.to_list()


@pytest.mark.parametrize("kwargs", [{}, {"max_length": 3}, {"max_length": 4,
                                                          "pad_to_max_length": True}])
def test_words_and_ids_line_up_with_tokenize_on_every_kind_of_text(kwargs):
    tokenizer = WordTokenizer(lowercase=True, **kwargs)
    tokenizer.adapt(CORPUS + VALID_TEXTS)
    texts = VALID_TEXTS + BAD_TEXTS
    words, ids = WordsAndIds(tokenizer)(tf.constant(texts))
    np.testing.assert_array_equal(ids.numpy(), tokenizer(tf.constant(texts)).numpy())
    # Every word where there is an id, "" at the padding; the words as written (not lower-cased).
    np.testing.assert_array_equal(words.numpy() != b"", ids.numpy() != PAD_ID)
    np.testing.assert_array_equal(tokenizer.lookup(words).numpy()[ids.numpy() != PAD_ID],
                                  ids.numpy()[ids.numpy() != PAD_ID])
    assert words.numpy()[0, 0] == b"The"


def test_words_and_ids_save_with_their_vocabulary_and_refuse_marked_tokenizers(tmp_path):
    tokenizer = WordTokenizer(lowercase=True)
    tokenizer.adapt(CORPUS)
    text = keras.Input(shape=(), dtype="string")
    model = keras.Model(text, WordsAndIds(tokenizer)(text)[1])
    loaded = assert_model_saves_and_loads(model, tf.constant(["The cat sat.", ""]), tmp_path)
    assert loaded.layers[1].tokenizer.vocabulary.tokens == tokenizer.vocabulary.tokens
    for marked in ({"add_bos": True}, {"add_eos": True}):
        with pytest.raises(ValueError, match="without \\[BOS\\]/\\[EOS\\]"):
            WordsAndIds(WordTokenizer(["[PAD]", "[UNK]", "[BOS]", "[EOS]", "a"], **marked))
    with pytest.raises(ValueError, match="has no vocabulary"):
        WordsAndIds(WordTokenizer())


def test_invalid_utf8_is_replaced_not_dropped():
    words = WordTokenizer(split="whitespace")
    words.adapt(["caf\ufffd x"])
    bad, replaced = words.tokenize([b"caf\xff x"]), words.tokenize(["caf\ufffd x"])
    assert bad.to_list() == replaced.to_list()
    assert OOV_ID not in bad.to_list()[0]
    ids, starts, ends = words.tokenize_with_offsets([b"caf\xff x"])
    # offsets index the repaired string, where U+FFFD takes 3 bytes
    assert starts.to_list() == [[0, 7]] and ends.to_list() == [[6, 8]]

    chars = CharacterTokenizer()
    chars.adapt(["a\ufffdb"])
    ids = chars(tf.constant([b"a\xffb"]))
    assert ids.shape == (1, 3) and OOV_ID not in ids.numpy()
    assert chars.detokenize(ids).numpy()[0].decode("utf-8") == "a\ufffdb"


def _tokenizers():
    word = WordTokenizer(lowercase=True, max_length=16, add_bos=True, add_eos=True)
    word.adapt(CORPUS)
    whitespace = WordTokenizer(split="whitespace", return_offsets=True)
    whitespace.adapt(CORPUS)
    chars = CharacterTokenizer(max_length=40)
    chars.adapt(CORPUS)
    graphemes = CharacterTokenizer(unit="grapheme", normalization=None, return_offsets=True)
    graphemes.adapt(CORPUS)
    pieces = WordPieceTokenizer(add_eos=True, return_offsets=True)
    pieces.adapt(CORPUS, vocab_size=60)
    return [word, whitespace, chars, graphemes, pieces]


@pytest.fixture(scope="module")
def tokenizers():
    return _tokenizers()


def test_bad_inputs_never_crash_eager_or_in_a_graph(tokenizers):
    texts = VALID_TEXTS + BAD_TEXTS
    for tokenizer in tokenizers:
        graph_call = tf.function(tokenizer.call)
        for run in (tokenizer, graph_call):
            outputs = run(tf.constant(texts))
            outputs = outputs if isinstance(outputs, tuple) else (outputs,)
            for output in outputs:
                assert output.shape[0] == len(texts) and output.shape[1] >= 1
            if len(outputs) == 3:
                _ids, starts, ends = (output.numpy() for output in outputs)
                lengths = np.array([len(t if isinstance(t, bytes) else t.encode()) for t in texts])
                # a repaired string is at most 3x longer (1 bad byte -> 3-byte U+FFFD)
                assert np.all(starts <= ends) and np.all(ends <= 3 * lengths[:, None])
        # single empty / whitespace strings and an empty batch
        for batch in ([""], ["   "], [b"\xff"]):
            assert tokenizer.tokenize(batch).nrows() == 1
        empty = tokenizer(tf.constant([], dtype=tf.string))
        empty = empty[0] if isinstance(empty, tuple) else empty
        assert empty.shape[0] == 0
        assert tokenizer.tokenize_with_offsets(tf.constant([], dtype=tf.string))[0].nrows() == 0


def test_empty_and_whitespace_strings_give_only_markers(tokenizers):
    word = tokenizers[0]
    assert word.tokenize(["", " \t\n"]).to_list() == [[BOS_ID, EOS_ID], [BOS_ID, EOS_ID]]
    pieces = tokenizers[4]
    ids, starts, ends = pieces.tokenize_with_offsets([""])
    assert ids.to_list() == [[EOS_ID]] and starts.to_list() == ends.to_list() == [[0]]


def test_max_length_truncation_keeps_the_first_tokens_and_the_end_marker():
    tokenizer = WordTokenizer(split="whitespace", max_length=5, add_bos=True, add_eos=True)
    tokenizer.adapt(["a b c d e f g"])
    full = WordTokenizer(tokenizer.vocabulary, split="whitespace").tokenize(["a b c d e f g"])
    ids = tokenizer.tokenize(["a b c d e f g", "a"]).to_list()
    assert ids[0] == [BOS_ID] + full.to_list()[0][:3] + [EOS_ID]
    assert len(ids[1]) == 3
    padded = WordTokenizer(
        tokenizer.vocabulary, split="whitespace", max_length=5, pad_to_max_length=True
    )
    dense = padded(tf.constant(["a b c d e f g", "", "a"])).numpy()
    assert dense.shape == (3, 5)
    np.testing.assert_array_equal(dense[1], [PAD_ID] * 5)
    np.testing.assert_array_equal(dense[0], full.to_list()[0][:5])
    with pytest.raises(ValueError, match="max_length"):
        WordTokenizer(max_length=2, add_bos=True, add_eos=True)


def test_a_huge_text_is_cut_before_tokenizing_without_changing_its_first_tokens():
    from nlpkit.text.tokenizers import CHARACTERS_PER_TOKEN

    huge = "good film " + "é" * 2_000_000 + " end"
    tokenizer = WordTokenizer(split="whitespace", max_length=4, add_eos=True)
    tokenizer.adapt(["good film end"])
    assert tokenizer.tokenize([huge]).to_list() == tokenizer.tokenize(["good film x"]).to_list()
    # The cut counts characters, not bytes ("é" is 2 bytes), and never splits one.
    cut = tokenizer._cut(tf.constant([huge])).numpy()[0].decode("utf-8")
    assert len(cut) == CHARACTERS_PER_TOKEN * 4 and huge.startswith(cut)
    ids, starts, ends = tokenizer.tokenize_with_offsets([huge])
    assert ids.to_list()[0][:2] == tokenizer.tokenize(["good film"]).to_list()[0][:2]
    assert ends.to_list()[0][-1] == len(huge.encode())  # [EOS] still marks the text's end
    counts = tokenizer.count_tokens([huge])  # adapt learns from the cut text too
    assert counts["good"] == 1 and counts["end"] == 0
    assert WordTokenizer(tokenizer.vocabulary, split="whitespace")._cut(
        tf.constant([huge])).numpy()[0] == huge.encode()  # without max_length: no cut


def test_dense_output_is_zero_padded_ragged_output(tokenizers):
    word = tokenizers[0]
    texts = ["the cat", "a dog sat on the log", ""]
    ragged = word.tokenize(texts)
    np.testing.assert_array_equal(word(tf.constant(texts)).numpy(), ragged.to_tensor(0).numpy())
    column = word(tf.constant([["the cat"], ["a dog"]]))  # (batch, 1) input, as servers send
    np.testing.assert_array_equal(column.numpy(), word(tf.constant(["the cat", "a dog"])).numpy())


def test_detokenize_inverts_tokenize():
    words = WordTokenizer(split="whitespace", lowercase=True, add_bos=True, add_eos=True)
    words.adapt(CORPUS)
    texts = ["The  cat sat", "a dog", ""]
    back = words.detokenize(words(tf.constant(texts))).numpy().tolist()
    assert back == [" ".join(_python_words(t, True)).encode() for t in texts]
    # stops at the first [EOS], skips [PAD]/[BOS], unknown and out-of-range ids -> [UNK]
    cat = words.vocabulary.token_to_id("cat")
    ids = tf.constant([[BOS_ID, cat, OOV_ID, 10_000, EOS_ID, cat, PAD_ID]])
    assert words.detokenize(ids).numpy().tolist() == [b"cat [UNK] [UNK]"]
    ragged = tf.ragged.constant([[cat, EOS_ID], [cat, cat]])
    assert words.detokenize(ragged).numpy().tolist() == [b"cat", b"cat cat"]

    chars = CharacterTokenizer()
    text = "First Citizen:\nBefore we proceed,\r\n hear me."
    chars.adapt([text])
    assert chars.detokenize(chars(tf.constant([text]))).numpy()[0].decode() == text


def _reference_wordpiece(word, vocabulary, suffix="##"):
    # Greedy longest-match-first, as in BERT's original WordpieceTokenizer.
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            piece = word[start:end] if start == 0 else suffix + word[start:end]
            if piece in vocabulary and vocabulary.token_to_id(piece) != OOV_ID:
                break
        else:
            return ["[UNK]"]
        pieces.append(piece)
        start = end
    return pieces


def test_wordpiece_learns_a_vocabulary_and_matches_greedy_reference():
    tokenizer = WordPieceTokenizer()
    tokenizer.adapt(CORPUS, vocab_size=60)
    vocab = tokenizer.vocabulary
    assert vocab.tokens[:4] == ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
    assert any(token.startswith("##") for token in vocab.tokens)
    assert len(vocab) <= 60
    words = ["unaffable", "cats", "dogs", "tables", "bat", "zzz", "the", "a"]
    expected = [vocab.encode(_reference_wordpiece(word, vocab)) for word in words]
    assert _rows(tokenizer.tokenize(words)) == expected
    # every word of the training text is cut into known pieces
    assert OOV_ID not in tokenizer.tokenize(CORPUS).flat_values.numpy()


def test_wordpiece_offsets_and_detokenize():
    tokenizer = WordPieceTokenizer(lowercase=True)
    tokenizer.adapt(CORPUS, vocab_size=60)
    text = "Unaffable ＣＡＴＳ"
    ids, starts, ends = tokenizer.tokenize_with_offsets([text])
    source = text.encode()
    pieces = [
        unicodedata.normalize("NFKC", source[s:e].decode()).lower()
        for s, e in zip(starts.to_list()[0], ends.to_list()[0])
    ]
    tokens = [token.removeprefix("##") for token in tokenizer.vocabulary.decode(ids.to_list()[0])]
    assert pieces == tokens
    assert tokenizer.detokenize(tokenizer(tf.constant([text]))).numpy().tolist() == [
        b"unaffable cats"
    ]


def test_grapheme_units_keep_clusters_together():
    chars = CharacterTokenizer(unit="grapheme", normalization=None)
    counts = chars.count_tokens(["e\u0301 🇪🇸👍🏽👨‍👩‍👧\r\n"])
    assert counts == collections.Counter(["e\u0301", " ", "🇪🇸", "👍🏽", "👨‍👩‍👧", "\r\n"])
    codepoints = CharacterTokenizer(normalization=None)
    text = "e\u0301 🇪🇸"
    assert codepoints.count_tokens([text]) == collections.Counter(list(text))
    # NFC (the default) composes e + combining acute into one code point
    assert CharacterTokenizer().count_tokens(["e\u0301"]) == collections.Counter(["é"])


def test_adapt_accepts_lists_arrays_and_datasets():
    texts = ["the cat", "the dog", "a cat"]
    from_list = WordTokenizer()
    from_list.adapt(texts)
    for source in (
        np.array(texts),
        tf.data.Dataset.from_tensor_slices(texts),
        tf.data.Dataset.from_tensor_slices((texts, [0, 1, 0])),
        tf.data.Dataset.from_tensor_slices(texts).batch(2),
    ):
        other = WordTokenizer()
        other.adapt(source)
        assert other.vocabulary == from_list.vocabulary
    with pytest.raises(ValueError, match="no vocabulary"):
        WordTokenizer().tokenize(["x"])
    with pytest.raises(ValueError, match="no tokens"):
        WordTokenizer().adapt(["", " "])


def test_vocabulary_file_and_config_round_trip(tmp_path, tokenizers):
    word = tokenizers[0]
    word.vocabulary.save(tmp_path / "vocab.txt")
    reloaded = WordTokenizer(
        str(tmp_path / "vocab.txt"), lowercase=True, max_length=16, add_bos=True, add_eos=True
    )
    texts = tf.constant(["the cat sat", "unknown words"])
    np.testing.assert_array_equal(reloaded(texts).numpy(), word(texts).numpy())
    for tokenizer in tokenizers:
        assert_config_round_trip(tokenizer)


def test_model_with_tokenizer_saves_and_loads(tmp_path, tokenizers):
    texts = np.array(["the cat sat", "a dog", "the unaffable log"])
    for index, tokenizer in enumerate(tokenizers):
        text = keras.Input(shape=(), dtype="string")
        outputs = tokenizer(text)
        ids = outputs[0] if isinstance(outputs, tuple) else outputs
        embedded = keras.layers.Embedding(tokenizer.vocabulary_size, 3)(ids)
        model = keras.Model(text, keras.layers.GlobalAveragePooling1D()(embedded))
        directory = tmp_path / str(index)
        directory.mkdir()
        assert_model_saves_and_loads(model, tf.constant(texts), directory)
