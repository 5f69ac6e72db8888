//! The losses plenoptic recommends for texture metamers (`portilla_simoncelli_loss_factory`,
//! `groupwise_relative_l2_norm_factory`): an L2 norm of
//! statistics weighted per group, so groups of very different magnitudes all count.

use burn::tensor::{ElementConversion, Tensor, TensorData, backend::AutodiffBackend};
use metamer_core::Loss;

use super::{PortillaSimoncelli, Statistic};
use crate::HostBackend;
use crate::Result;

/// `l2_norm(W·x, W·y)` with the per-statistic weights `W` (`[batch, channel, n_stats]`,
/// broadcast over the representations' batch and channel axes when those are 1).
fn weighted_l2<B: AutodiffBackend>(name: String, weights: Tensor<B, 3>) -> Loss<B> {
    let per_item = weights.dims()[2];
    let weights = weights.reshape([-1]);
    Loss::new(name, move |synth, target| {
        let length = synth.num_elements();
        if length != weights.dims()[0] {
            panic!(
                "the texture loss weighs {per_item} statistics per image, but the representation \
                 has {length} values: it cannot follow coarse-to-fine synthesis, which compares \
                 only some statistics (use l2_norm there, as plenoptic's documentation does)"
            );
        }
        let w = weights.clone();
        let difference = target.flat().clone() * w.clone() - synth.flat().clone() * w;
        difference.square().sum().sqrt()
    })
}

/// The reweighting factor given for `statistic`, if any.
fn factor(reweighting: &[(Statistic, f64)], statistic: Statistic) -> Option<f64> {
    reweighting
        .iter()
        .rev()
        .find(|(s, _)| *s == statistic)
        .map(|(_, f)| *f)
}

/// plenoptic's `portilla_simoncelli_loss_factory`: the L2 norm of the statistics with the
/// pixel minimum and maximum left out (weight 0) and the highpass variance weighted 100,
/// each group further multiplied by its `reweighting` factor. A factor given for the pixel
/// statistics or the highpass variance replaces those defaults.
///
/// # Errors
/// When the model's representation of the image cannot be computed.
pub fn portilla_simoncelli_loss<B: AutodiffBackend + HostBackend>(
    model: &PortillaSimoncelli<B>,
    image: Tensor<B, 4>,
    reweighting: &[(Statistic, f64)],
) -> Result<Loss<B>> {
    // Only the weights' shape comes from the image; its statistics are not needed.
    let [batch, channel, height, width] = image.dims();
    if [height, width] != model.config().image_shape {
        return Err(crate::ModelError::Texture(format!(
            "the image is {height}x{width} but the model was built for {:?}",
            model.config().image_shape
        )));
    }
    let ones = Tensor::<B, 3>::ones(
        [batch, channel, model.n_stats()],
        (&image.device(), image.dtype()),
    );
    let groups = model
        .convert_to_dict(ones)?
        .into_iter()
        .map(|mut group| {
            let [b, c, size] = group.values.dims();
            let device = group.values.device();
            let dtype = group.values.dtype();
            let weight = match (group.statistic, factor(reweighting, group.statistic)) {
                (_, Some(f)) => group.values.mul_scalar(f),
                (Statistic::PixelStatistics, None) => {
                    let default = Tensor::<B, 1>::from_data(
                        TensorData::new(vec![1.0, 1.0, 1.0, 1.0, 0.0, 0.0], [6]),
                        (&device, dtype),
                    );
                    group.values * default.reshape([1, 1, 6]).expand([b, c, size])
                }
                (Statistic::VarHighpassResidual, None) => group.values.mul_scalar(100.0),
                (_, None) => group.values,
            };
            group.values = weight;
            group
        })
        .collect::<Vec<_>>();
    let weights = model.convert_to_tensor(&groups)?;
    Ok(weighted_l2("portilla_simoncelli".to_string(), weights))
}

/// plenoptic's `groupwise_relative_l2_norm_factory`: each statistic group divided by its
/// norm in `image`'s representation (and multiplied by its `reweighting` factor), so every
/// group contributes on the same scale.
///
/// # Errors
/// When the model's representation of `image` cannot be computed.
pub fn groupwise_relative_l2_norm<B: AutodiffBackend + HostBackend>(
    model: &PortillaSimoncelli<B>,
    image: Tensor<B, 4>,
    reweighting: &[(Statistic, f64)],
) -> Result<Loss<B>> {
    let representation = model.forward(image.detach())?;
    let groups = model
        .convert_to_dict(representation)?
        .into_iter()
        .map(|mut group| {
            if group.values.dims()[2] == 0 {
                return group;
            }
            let values = group.values.clone();
            let kept = values.clone().is_nan().bool_not();
            let norm = values
                .clone()
                .mask_fill(kept.clone().bool_not(), 0.0)
                .square()
                .sum()
                .sqrt()
                .into_scalar()
                .elem::<f64>();
            let scale = factor(reweighting, group.statistic).unwrap_or(1.0) / norm;
            // NaN stays at the redundant positions, which convert_to_tensor drops.
            group.values = values
                .ones_like()
                .mask_where(kept.bool_not(), values)
                .mul_scalar(scale);
            group
        })
        .collect::<Vec<_>>();
    let weights = model.convert_to_tensor(&groups)?;
    Ok(weighted_l2(
        "groupwise_relative_l2_norm".to_string(),
        weights,
    ))
}
