"""bAbI question answering (Weston et al. 2015): the file format, the
released tasks, a generator of bAbI-style tasks, and word ids for a reader.

Example:

>>> import tempfile
>>> folder = generate_babi(tempfile.mkdtemp(), tasks=(1,), sizes=("1k",))
>>> stories = load_babi(1, "train", path=folder)
>>> sample = samples_of(stories)[0]
>>> len(sample.facts), sample.question.startswith("Where is")
(2, True)
>>> vocabulary = Vocabulary.from_samples(samples_of(stories))
>>> arrays = vectorize(samples_of(stories), vocabulary, memory_size=10)
>>> arrays["story"].shape[:2], arrays["question"].shape[0]
((1000, 10), 1000)
"""

from keras_attention.data.babi._format import (
    BabiFormatError,
    Question,
    Sample,
    Story,
    format_babi,
    parse_babi,
    read_babi,
    samples_of,
    write_babi,
)
from keras_attention.data.babi._generate import (
    GENERATED_TASKS,
    generate_babi,
    generate_stories,
)
from keras_attention.data.babi._load import (
    BABI_SHA256,
    BABI_URL,
    TASK_NAMES,
    babi_archive,
    load_babi,
    task_file_name,
)
from keras_attention.data.babi._vectorize import (
    MEMORY_SIZE,
    TOKEN_PATTERN,
    Vocabulary,
    longest_sentence,
    tokenize,
    vectorize,
)

__all__ = [
    "BABI_SHA256", "BABI_URL", "BabiFormatError", "GENERATED_TASKS", "MEMORY_SIZE", "Question", "Sample",
    "Story", "TASK_NAMES", "TOKEN_PATTERN", "Vocabulary", "babi_archive", "format_babi", "generate_babi",
    "generate_stories", "load_babi", "longest_sentence", "parse_babi", "read_babi", "samples_of",
    "task_file_name", "tokenize", "vectorize", "write_babi",
]
