//! Engine tests driven through the multi-tab harness: examples and property tests.

mod adapter_rules;
mod deadline;
mod examples;
mod offset;
mod props;
mod recording;
mod resilience;
mod tab_end;
