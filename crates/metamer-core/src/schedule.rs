/// Adjusts the learning rate once per iteration, after the optimizer step.
///
/// Receives the current learning rate and the iteration's loss (schedulers that ignore the loss,
/// like torch's step-based ones, simply do not read it) and returns the new learning rate.
pub trait LrScheduler {
    fn step(&mut self, learning_rate: f64, loss: f64) -> f64;

    /// The name shown in summaries and checked on load.
    fn name(&self) -> &'static str;
}
