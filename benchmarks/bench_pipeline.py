"""Input pipelines (torch DataLoader, tf.data): throughput alone, and feeding the train step."""

import pytest

from benchmarks.harness import run_pipeline, run_pipeline_train
from benchmarks.plugin import device_context, skip_unless_available


@pytest.mark.sidebyside("pipelines")
def test_pipeline(benchmark, framework, mode, device, settings, context):
    skip_unless_available(mode, device)  # mode: a selected mode of that framework
    benchmark.group = f"pipeline-{device}"
    run_pipeline(benchmark, framework, device, settings, device_context(context, device))


@pytest.mark.sidebyside("pipeline-train")
def test_pipeline_train(benchmark, model, mode, device, settings, context):
    skip_unless_available(mode, device)
    benchmark.group = f"pipeline-train-{model}-{device}"
    run_pipeline_train(benchmark, model, mode, device, settings, device_context(context, device))
