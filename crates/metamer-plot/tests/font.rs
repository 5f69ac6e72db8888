//! A font that cannot be found is a clear error, not a panic. (Its own test binary: the font
//! is chosen once per process.)

use burn::backend::NdArray;
use burn::tensor::Tensor;
use metamer_plot::{FONT_VARIABLE, PlotError, font_path, imshow};

#[test]
fn a_missing_font_is_a_clear_error() {
    // SAFETY: this binary's only test; no other thread reads the environment.
    unsafe { std::env::set_var(FONT_VARIABLE, "/nonexistent/font.ttf") };
    let image = Tensor::<NdArray, 4>::zeros([1, 1, 4, 4], &Default::default());
    let figure = imshow([image], &Default::default()).unwrap();
    let error = figure.render().unwrap_err();
    assert!(matches!(error, PlotError::NoFont(_)));
    assert_eq!(
        error.to_string(),
        "METAMER_FONT=/nonexistent/font.ttf is not a readable font file"
    );
    assert!(figure.to_svg().is_err());
    assert!(font_path().is_err());
}
