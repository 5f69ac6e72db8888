use burn::tensor::{Tensor, backend::Backend};
use metamer_core::{Model, Representation};

/// Returns the image itself: its metamers are the image (plenoptic's `Identity`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Identity;

macro_rules! identity_for_rank {
    ($($rank:literal),*) => {$(
        impl<B: Backend> Model<B, $rank> for Identity {
            fn forward(&self, image: Tensor<B, $rank>) -> Representation<B> {
                image.into()
            }

            fn name(&self) -> String {
                "Identity".to_string()
            }
        }
    )*};
}
identity_for_rank!(1, 2, 3, 4, 5, 6);
