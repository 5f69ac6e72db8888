//! Figures checked by content: sizes, panel counts and the pixels of the data they show.

use burn::backend::{Autodiff, NdArray};
use burn::tensor::{Tensor, TensorData};
use metamer_core::{Metamer, Model, Representation, Setup, SynthesizeOptions, tensor::to_f64};
use metamer_models::{Gaussian, Identity};
use metamer_plot::*;

type B = Autodiff<NdArray>;
type Inner = NdArray;

const SIZE: usize = 24;

fn target() -> Tensor<Inner, 4> {
    metamer_io::default_image(SIZE)
        .to_tensor(&Default::default())
        .unwrap()
}

/// A Gaussian-model metamer after `iterations` steps, storing progress every `every`.
fn synthesis(iterations: usize, every: usize) -> Metamer<B> {
    metamer_core::set_seed(0);
    let model = Gaussian::<B>::new(5, &Default::default()).unwrap();
    let mut met = Metamer::<B>::new(target(), model).unwrap();
    met.synthesize(SynthesizeOptions {
        max_iter: iterations,
        store_progress: every,
        stop_criterion: 0.0,
        ..Default::default()
    })
    .unwrap();
    met
}

/// matplotlib's colour-map index: 256 levels, `floor(256 t)` with 1.0 in the last.
fn matplotlib_level(t: f64) -> u8 {
    ((t.clamp(0.0, 1.0) * 256.0).floor() as u32).min(255) as u8
}

/// Gray level of every pixel of `values` with a min–max range, repeated `zoom` times.
fn expected_gray(values: &[f64], zoom: usize) -> Vec<u8> {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut pixels = Vec::new();
    for y in 0..SIZE * zoom {
        for x in 0..SIZE * zoom {
            let v = values[(y / zoom) * SIZE + x / zoom];
            pixels.push(matplotlib_level((v - lo) / (hi - lo)));
        }
    }
    pixels
}

fn gray_pixels(raster: &Raster, rect: Rect) -> Vec<u8> {
    let mut pixels = Vec::new();
    for y in rect.y..rect.y + rect.height {
        for x in rect.x..rect.x + rect.width {
            let [r, g, b] = raster.pixel(x, y);
            assert!(
                r == g && g == b,
                "a gray image pixel at ({x}, {y}) is [{r}, {g}, {b}]"
            );
            pixels.push(r);
        }
    }
    pixels
}

#[test]
fn status_has_the_default_panels_at_their_sizes() {
    let met = synthesis(6, 0);
    let figure = synthesis_status(&met, &StatusOptions::default()).unwrap();
    assert_eq!(figure.panel_count(), 3);
    assert_eq!(
        figure.panel_kinds(),
        vec![
            PanelKind::Image,
            PanelKind::Loss,
            PanelKind::RepresentationError
        ]
    );
    // Three 500-pixel plots, as plenoptic's three 5-inch axes at 100 dpi.
    assert_eq!(figure.size(), (1500, 500));
    let raster = figure.render().unwrap();
    assert_eq!((raster.width, raster.height), (1500, 500));
    assert_eq!(raster.rgb.len(), 1500 * 500 * 3);
    assert_eq!(raster.panels.len(), 3);
    for (i, panel) in raster.panels.iter().enumerate() {
        assert_eq!(panel.cell.x, 500 * i as u32);
        assert_eq!(panel.areas.len(), 1);
    }
    let png = figure.to_png().unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let reader = decoder.read_info().unwrap();
    assert_eq!((reader.info().width, reader.info().height), (1500, 500));

    let all = StatusOptions {
        included_plots: PlotName::ALL.to_vec(),
        width_ratios: vec![(PlotName::SynthesisLoss, 2.0)],
        ..Default::default()
    };
    let figure = synthesis_status(&met, &all).unwrap();
    assert_eq!(figure.panel_count(), 4);
    assert_eq!(figure.size(), (2500, 500));
    assert_eq!(figure.panel_kinds()[3], PanelKind::Histogram);
}

#[test]
fn metamer_panel_shows_the_metamer_pixels_after_zoom() {
    let met = synthesis(4, 2);
    let metamer = to_f64(met.metamer().unwrap().clone());
    for zoom in [None, Some(1), Some(3)] {
        let options = StatusOptions {
            imshow: ImshowPanel {
                zoom,
                ..Default::default()
            },
            ..Default::default()
        };
        let raster = synthesis_status(&met, &options).unwrap().render().unwrap();
        // Without a zoom, the 24-pixel image is enlarged to fill the panel: 380 / 24 = 15.
        let zoom = zoom.unwrap_or(15) as usize;
        let area = raster.panels[0].areas[0];
        assert_eq!(
            (area.width, area.height),
            ((SIZE * zoom) as u32, (SIZE * zoom) as u32)
        );
        assert_eq!(gray_pixels(&raster, area), expected_gray(&metamer, zoom));
    }
    // An earlier stored iteration shows that saved metamer.
    let saved = to_f64(met.saved_metamer()[1].clone());
    let figure = synthesis_imshow(
        &met,
        &Selection {
            iteration: Some(2),
            ..Default::default()
        },
        &ImshowPanel {
            zoom: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    let raster = figure.render().unwrap();
    assert_eq!(
        gray_pixels(&raster, raster.panels[0].areas[0]),
        expected_gray(&saved, 2)
    );
    assert_ne!(saved, metamer);
}

#[test]
fn processed_images_are_shown_processed() {
    let met = synthesis(2, 0);
    let metamer = to_f64(met.metamer().unwrap().clone());
    let panel = ImshowPanel {
        zoom: Some(1),
        process_image: Some(std::sync::Arc::new(|mut image: ImageBatch| {
            image.values.iter_mut().for_each(|v| *v = -*v * *v);
            image
        })),
        ..Default::default()
    };
    let raster = synthesis_imshow(&met, &Selection::default(), &panel)
        .unwrap()
        .render()
        .unwrap();
    let processed: Vec<f64> = metamer.iter().map(|v| -v * v).collect();
    assert_eq!(
        gray_pixels(&raster, raster.panels[0].areas[0]),
        expected_gray(&processed, 1)
    );
}

/// Mean row of the pixels of `colour` in each column of `rect`.
fn curve(raster: &Raster, rect: Rect, colour: [u8; 3]) -> Vec<(u32, f64)> {
    (rect.x..rect.x + rect.width)
        .filter_map(|x| {
            let rows: Vec<u32> = (rect.y..rect.y + rect.height)
                .filter(|y| raster.pixel(x, *y) == colour)
                .collect();
            (!rows.is_empty()).then(|| {
                (
                    x,
                    rows.iter().map(|y| f64::from(*y)).sum::<f64>() / rows.len() as f64,
                )
            })
        })
        .collect()
}

#[test]
fn loss_panel_falls_where_the_loss_falls() {
    let met = synthesis(30, 0);
    let losses = met.losses().unwrap();
    assert!(
        losses.windows(2).all(|w| w[1] < w[0]),
        "the test needs a falling loss: {losses:?}"
    );
    let figure = synthesis_loss(&met, Some(10), &LossPanel::default()).unwrap();
    let raster = figure.render().unwrap();
    let area = raster.panels[0].areas[0];
    let line = curve(&raster, area, [36, 92, 160]);
    assert!(
        line.len() as u32 > area.width * 9 / 10,
        "the curve spans the panel"
    );
    // Rows grow downwards: a falling loss is a rising row.
    for pair in line.windows(2) {
        assert!(
            pair[1].1 >= pair[0].1 - 0.5,
            "the loss curve rises between columns {} and {}",
            pair[0].0,
            pair[1].0
        );
    }
    assert!(line.last().unwrap().1 > line[0].1 + area.height as f64 / 4.0);
    // The marker sits at iteration 10 of 30.
    let marker = curve(&raster, area, [214, 24, 24]);
    let centre = marker.iter().map(|(x, _)| f64::from(*x)).sum::<f64>() / marker.len() as f64;
    let expected = f64::from(area.x) + 10.0 / 30.0 * f64::from(area.width - 1);
    assert!(
        (centre - expected).abs() < 2.0,
        "marker at {centre}, expected {expected}"
    );
}

#[test]
fn animation_has_one_frame_per_stored_iteration() {
    let met = synthesis(5, 2);
    // Iterations 0, 2 and 4 are stored, then the final state.
    assert_eq!(met.saved_metamer().len(), 4);
    let animation = synthesis_animate(&met, &AnimateOptions::default()).unwrap();
    assert_eq!(animation.frame_count(), 4);
    let mut gif_bytes = Vec::new();
    animation.write_gif(&mut gif_bytes).unwrap();
    let mut decoder = gif::DecodeOptions::new()
        .read_info(std::io::Cursor::new(gif_bytes))
        .unwrap();
    let mut frames = 0;
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        assert_eq!((frame.width, frame.height), (1500, 500));
        assert_eq!(frame.delay, 10);
        frames += 1;
    }
    assert_eq!(frames, 4);

    let mut apng = Vec::new();
    animation.write_apng(&mut apng).unwrap();
    let reader = png::Decoder::new(std::io::Cursor::new(apng))
        .read_info()
        .unwrap();
    assert_eq!(reader.info().animation_control().unwrap().num_frames, 4);

    // Each frame shows its saved metamer.
    let saved = to_f64(met.saved_metamer()[2].clone());
    let raster = animation.frame(2).unwrap().render().unwrap();
    let area = raster.panels[0].areas[0];
    assert_eq!(gray_pixels(&raster, area), expected_gray(&saved, 15));
}

#[test]
fn plenoptic_argument_errors() {
    let met = synthesis(3, 0);
    let message = |e: PlotError| e.to_string();
    assert_eq!(
        message(
            synthesis_animate(&met, &AnimateOptions::default())
                .err()
                .unwrap()
        ),
        "When synthesis_object.store_progress=False, cannot animate!"
    );
    let at_iteration = Selection {
        iteration: Some(1),
        ..Default::default()
    };
    assert_eq!(
        message(synthesis_imshow(&met, &at_iteration, &ImshowPanel::default()).unwrap_err()),
        "When synthesis_object.store_progress=False, iteration must be None!"
    );
    let wrong_batch = Selection {
        batch_idx: 1,
        ..Default::default()
    };
    assert_eq!(
        message(
            synthesis_status(
                &met,
                &StatusOptions {
                    selection: wrong_batch,
                    ..Default::default()
                }
            )
            .err()
            .unwrap()
        ),
        "batch_idx=1 is out of bounds for dimension 0 with size 1"
    );
    let stored = synthesis(3, 1);
    // The Gaussian's representation is image-like: only "rescale" or never.
    let every = AnimateOptions {
        rescale_ylim: Rescale::Every(2),
        ..Default::default()
    };
    assert!(
        message(synthesis_animate(&stored, &every).err().unwrap())
            .starts_with("Looks like representation is image-like")
    );
    assert_eq!(
        message("rescale_sometimes".parse::<Rescale>().unwrap_err()),
        "Don't know how to handle rescale_ylim=rescale_sometimes!"
    );
    assert_eq!("rescale3".parse::<Rescale>().unwrap(), Rescale::Every(3));
}

#[test]
fn misc_panels_take_other_figures() {
    let met = synthesis(3, 0);
    let options = StatusOptions {
        panels: Some(4),
        axes_idx: vec![(PlotName::Misc, 0)],
        ..Default::default()
    };
    let mut figure = synthesis_status(&met, &options).unwrap();
    assert_eq!(figure.panel_kinds()[0], PanelKind::Misc);
    let target_figure = imshow(
        [target()],
        &ImshowOptions {
            title: Titles::Same("Target image".into()),
            zoom: Some(4),
            ..Default::default()
        },
    )
    .unwrap();
    figure.place(0, target_figure).unwrap();
    assert_eq!(
        figure.panel_kinds(),
        vec![
            PanelKind::Image,
            PanelKind::Image,
            PanelKind::Loss,
            PanelKind::RepresentationError
        ]
    );
    let raster = figure.render().unwrap();
    let target_values = to_f64(target());
    assert_eq!(
        gray_pixels(&raster, raster.panels[0].areas[0]),
        expected_gray(&target_values, 4)
    );
    assert!(
        figure
            .place(9, imshow([target()], &Default::default()).unwrap())
            .is_err()
    );
}

fn batch(shape: [usize; 4], f: impl Fn(usize) -> f64) -> Tensor<Inner, 4> {
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|i| f(i) as f32).collect();
    Tensor::from_data(TensorData::new(values, shape), &Default::default())
}

#[test]
fn imshow_handles_batches_channels_and_rgb() {
    let wave = |i: usize| (i as f64 * 0.37).sin() * 0.6 + 0.5;
    let two_batches = batch([2, 1, 8, 8], wave);
    assert_eq!(
        imshow([two_batches.clone()], &Default::default())
            .unwrap()
            .panel_count(),
        2
    );
    let three_channels = batch([1, 3, 8, 8], wave);
    assert_eq!(
        imshow([three_channels.clone()], &Default::default())
            .unwrap()
            .panel_count(),
        3
    );
    let both = batch([2, 3, 8, 8], wave);
    assert!(
        imshow([both.clone()], &Default::default())
            .err()
            .unwrap()
            .to_string()
            .starts_with(
                "Don't know how to plot non-rgb images with more than one channel and batch!"
            )
    );
    let rgb = ImshowOptions {
        as_rgb: true,
        zoom: Some(2),
        ..Default::default()
    };
    let figure = imshow([both.clone()], &rgb).unwrap();
    assert_eq!(figure.panel_count(), 2);
    // RGB values are shown clipped to [0, 1].
    let raster = figure.render().unwrap();
    let area = raster.panels[1].areas[0];
    let values = to_f64(both);
    let plane = 64;
    for (y, x) in [(0, 0), (3, 5), (7, 7)] {
        let pixel = raster.pixel(area.x + 2 * x as u32 + 1, area.y + 2 * y as u32);
        for c in 0..3 {
            let v = values[(3 + c) * plane + y * 8 + x];
            assert_eq!(pixel[c], matplotlib_level(v), "channel {c} at ({y}, {x})");
        }
    }
    assert_eq!(
        imshow([batch([1, 2, 8, 8], wave)], &rgb)
            .err()
            .unwrap()
            .to_string(),
        "If as_rgb is True, then channel must have 3 or 4 elements!"
    );
    let zero = ImshowOptions {
        zoom: Some(0),
        ..Default::default()
    };
    assert_eq!(
        imshow([two_batches.clone()], &zero)
            .err()
            .unwrap()
            .to_string(),
        "zoom must be positive!"
    );
    let out_of_range = ImshowOptions {
        batch_idx: Some(2),
        ..Default::default()
    };
    assert_eq!(
        imshow([two_batches.clone()], &out_of_range)
            .err()
            .unwrap()
            .to_string(),
        "batch_idx=2 is out of bounds for dimension 0 with size 2"
    );
    // A grid of three panels, two per row; a smaller image is enlarged to the largest.
    let wrapped = ImshowOptions {
        col_wrap: Some(2),
        title: Titles::None,
        ..Default::default()
    };
    let mixed = [three_channels.clone(), batch([1, 1, 16, 16], wave)];
    let figure = imshow(mixed, &wrapped).unwrap();
    assert_eq!(figure.panel_count(), 4);
    let raster = figure.render().unwrap();
    assert!(raster.panels.iter().all(|p| p.areas[0].width == 16));
    assert_eq!(raster.panels[2].cell.y, raster.panels[0].cell.height);
    assert_eq!(raster.panels[1].cell.x, raster.panels[0].cell.width);
}

#[test]
fn svg_embeds_images_and_text() {
    let met = synthesis(3, 0);
    let svg = synthesis_status(&met, &StatusOptions::default())
        .unwrap()
        .to_svg()
        .unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(
        svg.matches("<image ").count(),
        2,
        "the metamer and the error image"
    );
    assert!(svg.contains("href=\"data:image/png;base64,iVBORw0KGgo"));
    assert!(svg.contains("Synthesis iteration"));
    assert!(svg.contains("Metamer[0] [iteration=3]"));
}

/// A model with a vector representation and named groups of its values.
struct Statistics;

impl Model<B> for Statistics {
    fn forward(&self, image: Tensor<B, 4>) -> Representation<B> {
        let [b, c, h, w] = image.dims();
        let pixels = image.reshape([b, c, h * w]);
        let mean = pixels.clone().mean_dim(2);
        let square = pixels.clone().powf_scalar(2.0).mean_dim(2);
        let corners = pixels.slice([0..b, 0..c, 0..4]);
        Tensor::cat(vec![mean, square, corners], 2).into()
    }

    fn representation_panels(&self, values: &[f64]) -> Option<Vec<(String, Vec<f64>)>> {
        Some(vec![
            ("moments".into(), values[0..2].to_vec()),
            ("corners".into(), values[2..6].to_vec()),
        ])
    }
}

#[test]
fn vector_representations_are_grouped_stem_plots() {
    metamer_core::set_seed(1);
    let mut met = Metamer::<B>::new(target(), Statistics).unwrap();
    met.synthesize(SynthesizeOptions {
        max_iter: 2,
        ..Default::default()
    })
    .unwrap();
    let figure =
        metamer_representation_error(&met, &Selection::default(), &RepresentationPanel::default())
            .unwrap();
    let raster = figure.render().unwrap();
    assert_eq!(raster.panels[0].areas.len(), 2, "one stem plot per group");
    // Stems are drawn from zero towards each error value.
    let corners = raster.panels[0].areas[1];
    let line = curve(&raster, corners, [36, 92, 160]);
    assert!(!line.is_empty());
}

#[test]
fn every_combination_of_plots_gets_its_panels() {
    let met = synthesis(3, 1);
    // All 15 non-empty subsets, each with and without a leading misc panel (as plenoptic's
    // test_display.py does).
    for mask in 1..16u32 {
        let included: Vec<PlotName> = PlotName::ALL
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, p)| *p)
            .collect();
        let kinds: Vec<PanelKind> = included
            .iter()
            .map(|p| match p {
                PlotName::SynthesisImshow => PanelKind::Image,
                PlotName::SynthesisLoss => PanelKind::Loss,
                PlotName::MetamerRepresentationError => PanelKind::RepresentationError,
                _ => PanelKind::Histogram,
            })
            .collect();
        for misc in [false, true] {
            let options = StatusOptions {
                included_plots: included.clone(),
                axes_idx: if misc {
                    vec![(PlotName::Misc, 0)]
                } else {
                    vec![]
                },
                selection: Selection {
                    iteration: Some(1),
                    ..Default::default()
                },
                ..Default::default()
            };
            let figure = synthesis_status(&met, &options).unwrap();
            let mut expected = kinds.clone();
            if misc {
                expected.insert(0, PanelKind::Misc);
            }
            assert_eq!(figure.panel_kinds(), expected, "{included:?}, misc {misc}");
            let raster = figure.render().unwrap();
            assert_eq!(raster.width, 500 * expected.len() as u32);
        }
    }
}

#[test]
fn histogram_panel_counts_every_pixel() {
    let met = synthesis(3, 0);
    let figure =
        synthesis_histogram(&met, &Selection::default(), &HistogramPanel::default()).unwrap();
    let raster = figure.render().unwrap();
    assert_eq!(raster.panels[0].kind, PanelKind::Histogram);
    let metamer = to_f64(met.metamer().unwrap().clone());
    let (edges, counts) = histogram(&metamer);
    assert_eq!(counts.iter().sum::<u64>(), (SIZE * SIZE) as u64);
    assert_eq!(edges.len(), counts.len() + 1);
    assert_eq!(counts.len(), histogram_bins(&metamer));
    // Bars of both histograms are drawn, blended with white at alpha 0.4.
    let area = raster.panels[0].areas[0];
    let blended = |(r, g, b): (u8, u8, u8)| -> [u8; 3] {
        [r, g, b].map(|c| (f64::from(c) * 0.4 + 255.0 * 0.6).round() as u8)
    };
    let present = |colour: [u8; 3]| {
        (area.y..area.y + area.height).any(|y| {
            (area.x..area.x + area.width).any(|x| {
                let p = raster.pixel(x, y);
                p.iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= 1)
            })
        })
    };
    assert!(present(blended((36, 92, 160))), "metamer bars");
    assert!(present(blended((226, 122, 26))), "target bars");
}

#[test]
fn rgb_frames_outside_the_range_are_counted() {
    metamer_core::set_seed(3);
    let shape = [1, 3, 6, 6];
    let target = batch(shape, |i| (i as f64 * 0.71).sin() * 0.5 + 0.5);
    let start = batch(shape, |i| (i as f64 * 0.53).cos() * 0.6 + 0.5);
    let mut met = Metamer::<B>::new(target, Identity).unwrap();
    met.setup(Setup {
        initial_image: Some(start),
        ..Default::default()
    })
    .unwrap();
    met.synthesize(SynthesizeOptions {
        max_iter: 40,
        store_progress: 10,
        stop_criterion: 0.0,
        ..Default::default()
    })
    .unwrap();
    let out_of_range = met
        .saved_metamer()
        .into_iter()
        .map(to_f64)
        .filter(|v| v.iter().any(|x| *x < 0.0 || *x > 1.0))
        .count();
    assert!(out_of_range > 0 && out_of_range < met.saved_metamer().len());
    let animation = synthesis_animate(&met, &AnimateOptions::default()).unwrap();
    assert_eq!(
        animation.warnings(),
        &[PlotWarning::RgbClipped {
            frames: out_of_range
        }]
    );
    assert!(animation.warnings()[0].to_string().starts_with(&format!(
        "{out_of_range} frames of saved metamer clipped: Clipping input data"
    )));
    let mut processed = AnimateOptions::default();
    processed.status.imshow.process_image = Some(std::sync::Arc::new(|image| image));
    assert!(
        synthesis_animate(&met, &processed)
            .unwrap()
            .warnings()
            .is_empty()
    );
    // One channel of the colour image is shown in gray without a warning.
    let mut one_channel = AnimateOptions::default();
    one_channel.status.selection.channel_idx = Some(1);
    assert!(
        synthesis_animate(&met, &one_channel)
            .unwrap()
            .warnings()
            .is_empty()
    );
}

/// plenoptic's `test_display_filters`: a front end's filters display with plenoptic's titles, one
/// panel each.
#[test]
fn front_end_filters_display() {
    use metamer_models::{FrontEndConfig, FrontEndKind};
    let device = Default::default();
    for (kind, panels) in [
        (FrontEndKind::LinearNonlinear, 1),
        (FrontEndKind::LuminanceGainControl, 2),
        (FrontEndKind::LuminanceContrastGainControl, 3),
        (FrontEndKind::OnOff, 6),
    ] {
        let model = FrontEndConfig::new(kind, [31, 31])
            .with_pretrained(true)
            .with_cache_filt(true)
            .init::<B>(&device)
            .unwrap();
        let filters = model.filters();
        assert_eq!(filters.dims(), [panels, 1, 31, 31]);
        let titles = model.filter_titles();
        assert_eq!(titles.len(), panels);
        let options = ImshowOptions {
            vrange: ValueRange::Indep(RangeRule::Symmetric),
            zoom: Some(5),
            title: Titles::Each(titles),
            col_wrap: Some(2),
            ..Default::default()
        };
        let figure = imshow([filters], &options).unwrap();
        assert_eq!(figure.panel_count(), panels);
        assert!(figure.render().is_ok());
    }
    let on_off = FrontEndConfig::new(FrontEndKind::OnOff, [31, 31])
        .with_pretrained(true)
        .with_cache_filt(true)
        .init::<B>(&device)
        .unwrap();
    assert_eq!(
        on_off.filter_titles(),
        [
            "linear filt on",
            "linear filt off",
            "luminance filt on",
            "luminance filt off",
            "contrast filt on",
            "contrast filt off"
        ]
    );
}
