//! Every cross-crate test in one binary. Each test binary instantiates the whole generic stack
//! once per backend; with four backends, seven binaries cost a 2-core machine most of CI's time.

mod behaviour;
mod conformance;
mod deep_nets;
mod models;
mod optim;
mod portilla_simoncelli;
mod save_load;
mod steerable;
