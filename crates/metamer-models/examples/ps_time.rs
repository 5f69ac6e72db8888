use burn::tensor::{DType, Tensor};
use metamer_models::{PortillaSimoncelli, PortillaSimoncelliConfig};
use std::time::Instant;
type B = burn::backend::Autodiff<burn::backend::NdArray<f32>>;
type F = burn::backend::Autodiff<burn::backend::Flex>;
fn time<B: burn::tensor::backend::AutodiffBackend + metamer_models::fft::FftBackend>(name: &str) {
    let model: PortillaSimoncelli<B> = PortillaSimoncelliConfig::new([256, 256])
        .init(&Default::default())
        .unwrap();
    metamer_core::set_seed(0);
    let image: Tensor<B, 4> =
        metamer_core::rng::rand([1, 1, 256, 256], DType::F32, &Default::default());
    let mut ts = vec![];
    for i in 0..7 {
        let t = Instant::now();
        let x = image.clone().require_grad();
        let g = model
            .forward(x.clone())
            .unwrap()
            .powi_scalar(2)
            .sum()
            .backward();
        let _ = x.grad(&g).unwrap().into_data();
        if i >= 2 {
            ts.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    ts.sort_by(f64::total_cmp);
    let mut fs = vec![];
    for _ in 0..5 {
        let t = Instant::now();
        let _ = model.forward(image.clone()).unwrap().into_data();
        fs.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    fs.sort_by(f64::total_cmp);
    println!("{name} fwd+bwd {:.1} ms, fwd {:.1} ms", ts[2], fs[2]);
}
fn main() {
    time::<B>("ndarray");
    time::<F>("flex");
}
