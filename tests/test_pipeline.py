import numpy as np
import tensorflow as tf

from common.pipeline import make_pipeline


def batches(ds):
    return [b.tolist() for b in ds.as_numpy_iterator()]


def test_batches_keep_order_without_shuffle():
    ds = make_pipeline(tf.data.Dataset.range(10), 4)
    assert batches(ds) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches(make_pipeline(tf.data.Dataset.range(10), 4, drop_remainder=True)) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_shuffle_is_seeded_and_reshuffles_each_epoch():
    first = make_pipeline(tf.data.Dataset.range(50), 50, shuffle=True, seed=3)
    second = make_pipeline(tf.data.Dataset.range(50), 50, shuffle=True, seed=3)
    epoch1, epoch2 = batches(first)[0], batches(first)[0]
    assert sorted(epoch1) == list(range(50)) and epoch1 != list(range(50))
    assert epoch1 != epoch2  # a new order every epoch
    assert batches(second)[0] == epoch1  # the same seed gives the same sequence of orders
    assert batches(make_pipeline(tf.data.Dataset.range(50), 50, shuffle=True, seed=4))[0] != epoch1


def test_max_examples_and_cache():
    calls = []

    def record(x):
        calls.append(1)
        return x

    source = tf.data.Dataset.range(8).map(lambda x: tf.numpy_function(record, [x], tf.int64))
    ds = make_pipeline(source, 3, max_examples=5)
    assert np.concatenate(list(ds.as_numpy_iterator())).tolist() == [0, 1, 2, 3, 4]
    list(ds.as_numpy_iterator())
    assert len(calls) == 5  # the second pass reads the cache


def test_data_autoshard_policy_for_multi_worker():
    ds = make_pipeline(tf.data.Dataset.range(4), 2)
    assert ds.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA


def test_confusion_matrix_text_follows_the_cell_colour():
    from common.monitoring import confusion_matrix_figure

    figure = confusion_matrix_figure(np.array([[100, 91], [91, 100]]), ["a", "b"])
    colours = {text.get_text(): text.get_color() for text in figure.axes[0].texts}
    assert colours == {"100": "white", "91": "black"}  # 91 is the lightest cell: dark text


def test_tensorboard_texts_show_tables_as_lists():
    """TensorBoard's Text tab breaks a squeezed table column mid-word ("nega tive"): tables go there as lists
    (escaped "|" kept), the rest of the markdown as it is."""
    from common.monitoring import tables_as_lists

    markdown = "Intro\n\n| text | true | p |\n|---|---|---|\n| a \\| b | negative | 0.8 |\n| c | positive | 0.1 |\n\nend"
    assert tables_as_lists(markdown) == ("Intro\n\n- **text**: a \\| b · **true**: negative · **p**: 0.8\n"
                                         "- **text**: c · **true**: positive · **p**: 0.1\n\nend")
    assert tables_as_lists("no | table here") == "no | table here"


def test_audio_clips_carry_their_description_into_the_text_tab(tmp_path):
    """The Audio tab shows a clip's description only behind its (i) icon: the transcripts also go to the Text tab,
    both in the run of the test split."""
    import numpy as np
    import tensorflow as tf

    from common.audio.summary import log_audio

    log_audio(str(tmp_path), {"test_clips": (np.zeros((2, 1600), np.float32), "one two | three")})
    plugins = {}
    for path in (tmp_path / "test").iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                plugins.setdefault(value.metadata.plugin_data.plugin_name, []).append(value)
    assert {"audio", "text"} <= set(plugins)
    assert tf.make_ndarray(plugins["text"][0].tensor).item().decode() == "one two | three"
    assert [p.name for p in tmp_path.iterdir()] == ["test"]
