"""Input pipelines (torch DataLoader, tf.data): throughput alone, and feeding the train step."""

from benchmarks.conftest import device_context, skip_unless_available
from benchmarks.harness import run_pipeline, run_pipeline_train


def test_pipeline(benchmark, pipeline, settings, context):
    framework, mode, device = pipeline  # mode: a selected mode of that framework, for the skip
    skip_unless_available(mode, device)
    benchmark.group = f"pipeline-{device}"
    run_pipeline(benchmark, framework, device, settings, device_context(context, device))


def test_pipeline_train(benchmark, pipeline_train, settings, context):
    model, mode, device = pipeline_train
    skip_unless_available(mode, device)
    benchmark.group = f"pipeline-train-{model}-{device}"
    run_pipeline_train(benchmark, model, mode, device, settings, device_context(context, device))
