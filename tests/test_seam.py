"""Where an early segment joins the answer so far (engine/seam.py), with the openings small
models wrote in benchmarks/local_models.py: restarts, reworded restarts, announcements, code
blocks begun again, and sentences cut by a segment's cap."""

from litellm_mixture.engine.seam import Seam


def joined(written: str, *pieces: str, continued: bool = False) -> str:
    seam = Seam(written, more=continued)
    return "".join(seam.feed(p) for p in pieces) + seam.end(continued)


def test_a_verbatim_restart_and_its_announcement_are_dropped():
    written = "A palindrome reads the same backward as forward. "
    restart = "Yes, I can continue. A palindrome reads the same backward as forward. It is rare."
    pieces = [restart[i : i + 5] for i in range(0, len(restart), 5)]  # as it streams
    assert joined(written, *pieces) == "It is rare."


def test_a_reworded_restart_of_a_sentence_is_dropped():
    written = "The water cycle is a fundamental concept that describes evaporation. "
    segment = "The water cycle is a fundamental process of rain and rivers. It is also the "
    segment += "hydrologic cycle."
    assert joined(written, segment) == "It is also the hydrologic cycle."


def test_a_code_block_begun_again_goes_on_from_its_new_lines():
    written = "Here it is:\n```python\ndef add(a, b):\n"
    segment = "```python\ndef add(a, b):\n    return a + b\n```\n"
    assert joined(written, segment) == "    return a + b\n```\n"


def test_a_new_sentence_is_joined_with_one_space_and_no_glue():
    assert joined("It maps keys to slots.", "The hash is an index.") == " The hash is an index."
    assert joined("It maps keys to slots. ", " The hash is an index.") == "The hash is an index."
    assert joined("A list:\n", "- one\n- two") == "- one\n- two"


def test_a_capped_segment_goes_out_in_whole_sentences_and_drops_the_cut_one():
    seam = Seam("", more=True)
    out = seam.feed("A hash table stores values. It maps ") + seam.feed("keys to")
    assert out == "A hash table stores values. "
    assert seam.end(continued=True) == ""
    assert seam.note() == "seam: 4 words not passed on (It maps keys to)"


def test_a_sentence_the_cap_ends_exactly_is_kept_and_one_it_cut_is_not():
    seam = Seam("", more=True)
    assert seam.feed("The water cycle moves water.") == ""  # it may go on: "water.5 km"
    assert seam.end(continued=True) == "The water cycle moves water."
    seam = Seam("", more=True)
    assert seam.feed("one long sentence with no end in sig") == ""
    assert seam.end(continued=True) == ""  # the next segment writes the answer from its start


def test_new_text_is_never_dropped():
    written = "Paris is the capital of France. "
    for segment in ("It has 2 million people.", "1. The Louvre\n2. The Seine", "So, yes."):
        assert joined(written, segment) == segment


def test_a_list_number_is_no_sentence_end():
    seam = Seam("", more=True)
    assert seam.feed("Steps:\n1. Hash the key") == "Steps:\n"
    assert seam.end(continued=True) == ""
