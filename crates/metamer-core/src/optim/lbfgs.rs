use std::collections::VecDeque;

use burn::tensor::{DType, Tensor, backend::Backend};

use super::{Objective, PixelOptimizer, State, convert, non_negative};
use crate::{MetamerError, Result, tensor::scalar};

/// How L-BFGS chooses its step length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LineSearch {
    /// A fixed step of `lr` (torch's `line_search_fn=None`).
    #[default]
    None,
    /// torch's strong-Wolfe line search (`line_search_fn="strong_wolfe"`).
    StrongWolfe,
}

/// L-BFGS's options: torch's defaults with plenoptic's learning rate (0.01, not torch's 1).
#[derive(Clone, Debug, PartialEq)]
pub struct LbfgsConfig {
    /// Learning rate.
    pub lr: f64,
    /// Inner iterations per step.
    pub max_iter: usize,
    /// Objective evaluations per step; `None` is `max_iter · 5 / 4`.
    pub max_eval: Option<usize>,
    /// Stop a step when the gradient's largest magnitude falls below this.
    pub tolerance_grad: f64,
    /// Stop a step when the objective or pixels change less than this.
    pub tolerance_change: f64,
    /// Correction pairs kept.
    pub history_size: usize,
    /// How the step length is chosen.
    pub line_search: LineSearch,
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        Self {
            lr: 0.01,
            max_iter: 20,
            max_eval: None,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            history_size: 100,
            line_search: LineSearch::None,
        }
    }
}

impl LbfgsConfig {
    /// Checks the learning rate as torch's `LBFGS` does, and that a step can iterate at all.
    ///
    /// # Errors
    /// [`MetamerError::Hyperparameter`] for a negative or NaN learning rate, or a zero
    /// `max_iter` or `history_size`.
    pub fn check(&self) -> Result<()> {
        non_negative(self.lr, "learning rate")?;
        if self.max_iter == 0 || self.history_size == 0 {
            return Err(MetamerError::Hyperparameter(
                "L-BFGS needs max_iter and history_size of at least 1".to_string(),
            ));
        }
        Ok(())
    }
}

/// torch's L-BFGS, port of `torch.optim.LBFGS.step` including its strong-Wolfe line search.
/// Each step may evaluate the objective several times.
#[derive(Clone, Debug)]
pub struct Lbfgs<B: Backend> {
    config: LbfgsConfig,
    state: LbfgsState<B>,
}

/// What L-BFGS carries from one step to the next.
#[derive(Clone, Debug)]
pub struct LbfgsState<B: Backend> {
    pub n_iter: usize,
    pub func_evals: usize,
    direction: Option<Tensor<B, 1>>,
    step_length: f64,
    old_dirs: VecDeque<Tensor<B, 1>>,
    old_steps: VecDeque<Tensor<B, 1>>,
    rho: VecDeque<f64>,
    h_diag: f64,
    prev_flat_grad: Option<Tensor<B, 1>>,
    prev_loss: f64,
}

impl<B: Backend> Default for LbfgsState<B> {
    fn default() -> Self {
        Self {
            n_iter: 0,
            func_evals: 0,
            direction: None,
            step_length: 0.0,
            old_dirs: VecDeque::new(),
            old_steps: VecDeque::new(),
            rho: VecDeque::new(),
            h_diag: 1.0,
            prev_flat_grad: None,
            prev_loss: 0.0,
        }
    }
}

/// The objective and flat gradient at flat parameters.
type FlatObjective<'a, B> = dyn FnMut(&Tensor<B, 1>) -> Result<(f64, Tensor<B, 1>)> + 'a;
/// The objective and flat gradient a step length along the search direction.
type LineObjective<'a, B> = dyn FnMut(f64) -> Result<(f64, Tensor<B, 1>)> + 'a;

fn dot<B: Backend>(a: &Tensor<B, 1>, b: &Tensor<B, 1>) -> f64 {
    scalar(a.clone().mul(b.clone()).sum())
}

fn max_abs<B: Backend>(a: &Tensor<B, 1>) -> f64 {
    scalar(a.clone().abs().max())
}

/// The minimiser of the cubic through two points with their slopes, clamped to `bounds`
/// (torch's `_cubic_interpolate`).
fn cubic_interpolate(
    (x1, f1, g1): (f64, f64, f64),
    (x2, f2, g2): (f64, f64, f64),
    bounds: Option<(f64, f64)>,
) -> f64 {
    let (lo, hi) = bounds.unwrap_or(if x1 <= x2 { (x1, x2) } else { (x2, x1) });
    let d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
    let d2_square = d1 * d1 - g1 * g2;
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let min_pos = if x1 <= x2 {
            x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        } else {
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        };
        min_pos.max(lo).min(hi)
    } else {
        (lo + hi) / 2.0
    }
}

/// One trial point of the line search: step length, objective, gradient, slope along `d`.
#[derive(Clone)]
struct Trial<B: Backend> {
    t: f64,
    f: f64,
    g: Tensor<B, 1>,
    gtd: f64,
}

/// torch's `_strong_wolfe`: returns the accepted trial and the number of evaluations.
fn strong_wolfe<B: Backend>(
    evaluate: &mut LineObjective<'_, B>,
    direction: &Tensor<B, 1>,
    start: Trial<B>,
    mut t: f64,
    tolerance_change: f64,
) -> Result<(Trial<B>, usize)> {
    const C1: f64 = 1e-4;
    const C2: f64 = 0.9;
    const MAX_LS: usize = 25;
    let (f, gtd) = (start.f, start.gtd);
    let d_norm = max_abs(direction);
    let trial = |t: f64, evaluate: &mut LineObjective<'_, B>| {
        evaluate(t).map(|(f, g)| {
            let gtd = dot(&g, direction);
            Trial { t, f, g, gtd }
        })
    };
    let mut new = trial(t, evaluate)?;
    let mut evals = 1;
    let mut prev = Trial {
        t: 0.0,
        ..start.clone()
    };
    let mut done = false;
    let mut ls_iter = 0;
    let mut bracket: Option<[Trial<B>; 2]> = None;
    let mut single: Option<Trial<B>> = None;
    while ls_iter < MAX_LS {
        if new.f > f + C1 * new.t * gtd || (ls_iter > 1 && new.f >= prev.f) {
            bracket = Some([prev.clone(), new.clone()]);
            break;
        }
        if new.gtd.abs() <= -C2 * gtd {
            single = Some(new.clone());
            done = true;
            break;
        }
        if new.gtd >= 0.0 {
            bracket = Some([prev.clone(), new.clone()]);
            break;
        }
        let min_step = new.t + 0.01 * (new.t - prev.t);
        let max_step = new.t * 10.0;
        t = cubic_interpolate(
            (prev.t, prev.f, prev.gtd),
            (new.t, new.f, new.gtd),
            Some((min_step, max_step)),
        );
        prev = new;
        new = trial(t, evaluate)?;
        evals += 1;
        ls_iter += 1;
    }
    if ls_iter == MAX_LS {
        bracket = Some([Trial { t: 0.0, ..start }, new.clone()]);
    }
    if let Some(accepted) = single {
        return Ok((accepted, evals));
    }
    let mut bracket = bracket.expect("the search loop either brackets or accepts");
    let order = |b: &[Trial<B>; 2]| if b[0].f <= b[1].f { (0, 1) } else { (1, 0) };
    let (mut low, mut high) = order(&bracket);
    let mut insufficient_progress = false;
    while !done && ls_iter < MAX_LS {
        let (b_min, b_max) = (
            bracket[0].t.min(bracket[1].t),
            bracket[0].t.max(bracket[1].t),
        );
        if (bracket[1].t - bracket[0].t).abs() * d_norm < tolerance_change {
            break;
        }
        let mut t = cubic_interpolate(
            (bracket[0].t, bracket[0].f, bracket[0].gtd),
            (bracket[1].t, bracket[1].f, bracket[1].gtd),
            None,
        );
        let eps = 0.1 * (b_max - b_min);
        if (b_max - t).min(t - b_min) < eps {
            if insufficient_progress || t >= b_max || t <= b_min {
                t = if (t - b_max).abs() < (t - b_min).abs() {
                    b_max - eps
                } else {
                    b_min + eps
                };
                insufficient_progress = false;
            } else {
                insufficient_progress = true;
            }
        } else {
            insufficient_progress = false;
        }
        let new = trial(t, evaluate)?;
        evals += 1;
        ls_iter += 1;
        if new.f > f + C1 * t * gtd || new.f >= bracket[low].f {
            bracket[high] = new;
            (low, high) = order(&bracket);
        } else {
            if new.gtd.abs() <= -C2 * gtd {
                done = true;
            } else if new.gtd * (bracket[high].t - bracket[low].t) >= 0.0 {
                bracket[high] = bracket[low].clone();
            }
            bracket[low] = new;
        }
    }
    Ok((bracket[low].clone(), evals))
}

impl<B: Backend> Lbfgs<B> {
    /// An optimizer with no steps taken.
    pub fn new(config: LbfgsConfig) -> Self {
        Self {
            config,
            state: LbfgsState::default(),
        }
    }

    /// The options it was made with.
    pub fn config(&self) -> &LbfgsConfig {
        &self.config
    }

    /// The curvature history and counters.
    pub fn state(&self) -> &LbfgsState<B> {
        &self.state
    }

    /// torch's `LBFGS.step` on flat parameters; `evaluate` gives objective and flat gradient.
    fn step_flat(
        &mut self,
        mut x: Tensor<B, 1>,
        evaluate: &mut FlatObjective<'_, B>,
    ) -> Result<Tensor<B, 1>> {
        let LbfgsConfig {
            lr,
            max_iter,
            max_eval,
            tolerance_grad,
            tolerance_change,
            history_size,
            line_search,
        } = self.config.clone();
        let max_eval = max_eval.unwrap_or(max_iter * 5 / 4);
        let state = &mut self.state;
        let (mut loss, mut flat_grad) = evaluate(&x)?;
        let mut current_evals = 1;
        state.func_evals += 1;
        if max_abs(&flat_grad) <= tolerance_grad {
            return Ok(x);
        }
        let mut n_iter = 0;
        while n_iter < max_iter {
            n_iter += 1;
            state.n_iter += 1;
            let direction = match (state.n_iter, state.direction.take()) {
                (1, _) | (_, None) => {
                    state.old_dirs.clear();
                    state.old_steps.clear();
                    state.rho.clear();
                    state.h_diag = 1.0;
                    flat_grad.clone().neg()
                }
                (_, Some(d)) => {
                    let prev_grad = state
                        .prev_flat_grad
                        .clone()
                        .expect("set with the direction");
                    let y = flat_grad.clone().sub(prev_grad);
                    let s = d.mul_scalar(state.step_length);
                    let ys = dot(&y, &s);
                    if ys > 1e-10 {
                        if state.old_dirs.len() == history_size {
                            state.old_dirs.pop_front();
                            state.old_steps.pop_front();
                            state.rho.pop_front();
                        }
                        state.h_diag = ys / dot(&y, &y);
                        state.old_dirs.push_back(y);
                        state.old_steps.push_back(s);
                        state.rho.push_back(1.0 / ys);
                    }
                    let count = state.old_dirs.len();
                    let mut alpha = vec![0.0; count];
                    let mut q = flat_grad.clone().neg();
                    for i in (0..count).rev() {
                        alpha[i] = dot(&state.old_steps[i], &q) * state.rho[i];
                        q = q.sub(state.old_dirs[i].clone().mul_scalar(alpha[i]));
                    }
                    let mut r = q.mul_scalar(state.h_diag);
                    let pairs = state.old_dirs.iter().zip(&state.old_steps);
                    for ((dir, step), (rho, a)) in pairs.zip(state.rho.iter().zip(&alpha)) {
                        let beta = dot(dir, &r) * rho;
                        r = r.add(step.clone().mul_scalar(a - beta));
                    }
                    r
                }
            };
            state.prev_flat_grad = Some(flat_grad.clone());
            state.prev_loss = loss;
            let mut t = if state.n_iter == 1 {
                (1.0 / scalar(flat_grad.clone().abs().sum())).min(1.0) * lr
            } else {
                lr
            };
            let gtd = dot(&flat_grad, &direction);
            if gtd > -tolerance_change {
                state.direction = Some(direction);
                state.step_length = t;
                break;
            }
            let mut ls_func_evals = 0;
            let mut opt_cond = false;
            match line_search {
                LineSearch::StrongWolfe => {
                    let start = Trial {
                        t: 0.0,
                        f: loss,
                        g: flat_grad.clone(),
                        gtd,
                    };
                    let x_init = x.clone();
                    let mut along =
                        |t: f64| evaluate(&x_init.clone().add(direction.clone().mul_scalar(t)));
                    let (accepted, evals) =
                        strong_wolfe(&mut along, &direction, start, t, tolerance_change)?;
                    (loss, flat_grad, t, ls_func_evals) =
                        (accepted.f, accepted.g, accepted.t, evals);
                    x = x.add(direction.clone().mul_scalar(t));
                    opt_cond = max_abs(&flat_grad) <= tolerance_grad;
                }
                LineSearch::None => {
                    x = x.add(direction.clone().mul_scalar(t));
                    if n_iter != max_iter {
                        (loss, flat_grad) = evaluate(&x)?;
                        opt_cond = max_abs(&flat_grad) <= tolerance_grad;
                        ls_func_evals = 1;
                    }
                }
            }
            current_evals += ls_func_evals;
            state.func_evals += ls_func_evals;
            let small_step = max_abs(&direction.clone().mul_scalar(t)) <= tolerance_change;
            state.direction = Some(direction);
            state.step_length = t;
            if n_iter == max_iter
                || current_evals >= max_eval
                || opt_cond
                || small_step
                || (loss - state.prev_loss).abs() < tolerance_change
            {
                break;
            }
        }
        Ok(x)
    }
}

impl<B: Backend, const D: usize> PixelOptimizer<B, D> for Lbfgs<B> {
    fn step(
        &mut self,
        pixels: Tensor<B, D>,
        objective: &mut Objective<'_, B, D>,
    ) -> Result<Tensor<B, D>> {
        let shape = pixels.dims();
        let len = shape.iter().product::<usize>();
        let mut evaluate = |x: &Tensor<B, 1>| -> Result<(f64, Tensor<B, 1>)> {
            let evaluation = objective(x.clone().reshape(shape))?;
            Ok((evaluation.objective, evaluation.gradient.reshape([len])))
        };
        let flat = self.step_flat(pixels.reshape([len]), &mut evaluate)?;
        Ok(flat.reshape(shape))
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, learning_rate: f64) {
        self.config.lr = learning_rate;
    }

    fn name(&self) -> &'static str {
        "LBFGS"
    }

    fn state(&self) -> State {
        let (c, s) = (&self.config, &self.state);
        let mut state = State::new("LBFGS")
            .scalar("lr", c.lr)
            .scalar("max_iter", c.max_iter as f64)
            .scalar("max_eval", c.max_eval.map_or(-1.0, |m| m as f64))
            .scalar("tolerance_grad", c.tolerance_grad)
            .scalar("tolerance_change", c.tolerance_change)
            .scalar("history_size", c.history_size as f64)
            .flag("strong_wolfe", c.line_search == LineSearch::StrongWolfe)
            .scalar("n_iter", s.n_iter as f64)
            .scalar("func_evals", s.func_evals as f64)
            .scalar("t", s.step_length)
            .scalar("H_diag", s.h_diag)
            .scalar("prev_loss", s.prev_loss)
            .scalar("history", s.old_dirs.len() as f64)
            .tensor("d", s.direction.as_ref())
            .tensor("prev_flat_grad", s.prev_flat_grad.as_ref());
        for (i, ((dir, step), rho)) in s.old_dirs.iter().zip(&s.old_steps).zip(&s.rho).enumerate() {
            state = state
                .tensor(&format!("old_dirs.{i}"), Some(dir))
                .tensor(&format!("old_stps.{i}"), Some(step))
                .scalar(&format!("ro.{i}"), *rho);
        }
        state
    }

    fn load_state(&mut self, state: &State, device: &B::Device, dtype: DType) -> Result<()> {
        state.expect_name("LBFGS")?;
        let count = |key: &str| state.get_scalar(key).map(|v| v as usize);
        let max_eval = state.get_scalar("max_eval")?;
        self.config = LbfgsConfig {
            lr: state.get_scalar("lr")?,
            max_iter: count("max_iter")?,
            max_eval: (max_eval >= 0.0).then_some(max_eval as usize),
            tolerance_grad: state.get_scalar("tolerance_grad")?,
            tolerance_change: state.get_scalar("tolerance_change")?,
            history_size: count("history_size")?,
            line_search: if state.get_flag("strong_wolfe")? {
                LineSearch::StrongWolfe
            } else {
                LineSearch::None
            },
        };
        let mut restored = LbfgsState {
            n_iter: count("n_iter")?,
            func_evals: count("func_evals")?,
            direction: state.get_tensor("d", device, dtype)?,
            step_length: state.get_scalar("t")?,
            h_diag: state.get_scalar("H_diag")?,
            prev_flat_grad: state.get_tensor("prev_flat_grad", device, dtype)?,
            prev_loss: state.get_scalar("prev_loss")?,
            ..Default::default()
        };
        for i in 0..count("history")? {
            let missing = |key: String| MetamerError::StateMismatch {
                expected: format!("LBFGS state with {key}"),
                found: "no such entry".to_string(),
            };
            let dir_key = format!("old_dirs.{i}");
            let step_key = format!("old_stps.{i}");
            restored.old_dirs.push_back(
                state
                    .get_tensor(&dir_key, device, dtype)?
                    .ok_or_else(|| missing(dir_key))?,
            );
            restored.old_steps.push_back(
                state
                    .get_tensor(&step_key, device, dtype)?
                    .ok_or_else(|| missing(step_key))?,
            );
            restored
                .rho
                .push_back(state.get_scalar(&format!("ro.{i}"))?);
        }
        self.state = restored;
        Ok(())
    }

    fn to(&mut self, device: &B::Device, dtype: DType) {
        let state = &mut self.state;
        for tensor in state
            .direction
            .iter_mut()
            .chain(state.prev_flat_grad.iter_mut())
            .chain(state.old_dirs.iter_mut())
            .chain(state.old_steps.iter_mut())
        {
            convert(tensor, device, dtype);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::cubic_interpolate;

    #[test]
    fn cubic_interpolation_finds_the_minimum_of_a_cubic() {
        // f(x) = (x - 1)² has slope 2(x - 1): the cubic through (0, 1, -2) and (3, 4, 4) is that
        // parabola, minimised at 1.
        let x = cubic_interpolate((0.0, 1.0, -2.0), (3.0, 4.0, 4.0), None);
        assert!((x - 1.0).abs() < 1e-12, "{x}");
        // Clamped to the bounds, and the midpoint when there is no real minimiser.
        assert_eq!(
            cubic_interpolate((0.0, 1.0, -2.0), (3.0, 4.0, 4.0), Some((2.0, 5.0))),
            2.0
        );
        assert_eq!(
            cubic_interpolate((0.0, 0.0, 1.0), (1.0, 2.0 / 3.0, 1.0), Some((0.0, 4.0))),
            2.0
        );
    }
}
