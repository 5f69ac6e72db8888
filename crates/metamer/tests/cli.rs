//! The `metamer synth` command, run as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use metamer::io::{Array, Precision, read_npy, write_npy};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("metamer-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn synth(out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metamer"))
        .arg("synth")
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .args(extra)
        .output()
        .expect("the binary runs")
}

fn history(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("history.json")).unwrap()).unwrap()
}

fn floats(value: &serde_json::Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

/// plenoptic's `load_images(..., as_gray=False)` and `center_crop`: `--color --crop N` makes
/// the target the central N×N of the colour image, and the metamer and its PNG are colour.
#[test]
fn color_targets_are_cropped_and_written_in_colour() {
    if !sample_images_available() {
        return;
    }
    let out = temp_dir("color");
    let args = [
        "--image",
        "parrot",
        "--color",
        "--crop",
        "64",
        "--max-iter",
        "2",
    ];
    let output = synth(&out, &args);
    assert!(output.status.success(), "{}", stderr(&output));
    let metamer = read_npy(out.join("metamer.npy")).unwrap();
    assert_eq!(metamer.shape, [1, 3, 64, 64]);
    // PNG colour type (byte 25 of the IHDR chunk): 2 is RGB.
    assert_eq!(std::fs::read(out.join("metamer.png")).unwrap()[25], 2);

    let parrot = metamer::io::parrot(false).unwrap();
    let [_, channels, height, width] = parrot.shape[..] else {
        panic!("parrot has shape {:?}", parrot.shape)
    };
    assert_eq!(channels, 3);
    let (top, left) = (height / 2 - 32, width / 2 - 32);
    let expected: Vec<f64> = (0..channels * 64 * 64)
        .map(|i| {
            let (c, r, col) = (i / 4096, i / 64 % 64, i % 64);
            parrot.values[(c * height + top + r) * width + left + col]
        })
        .collect();
    let (snapshot, _) = metamer::io::load_synthesis(&out.join("synthesis.safetensors")).unwrap();
    assert_eq!(snapshot.image.shape, [1, 3, 64, 64]);
    assert_eq!(snapshot.image.values, expected);

    for (args, message) in [
        (
            &["--color"][..],
            "--color needs an image file or a built-in image",
        ),
        (&["--crop", "0"][..], "--crop must be positive"),
        (
            &["--image", "parrot", "--crop", "100000"][..],
            "--crop 100000 is larger than",
        ),
    ] {
        let output = synth(&temp_dir("color-refused"), args);
        let text = stderr(&output);
        assert!(!output.status.success(), "{args:?}");
        assert_eq!(text.trim().lines().count(), 1, "{text}");
        assert!(text.contains(message), "{args:?}: {text}");
    }
}

/// Whether plenoptic's sample images can be loaded; says why a test is skipped when not.
fn sample_images_available() -> bool {
    let available = metamer::io::data_dir().is_ok();
    if !available {
        eprintln!("skipping: plenoptic's sample images are not available (set METAMER_DATA)");
    }
    available
}

/// A `size × size` float32 test pattern `((i · step) mod period) / period`, written as
/// `small.npy` in a fresh folder named `name`.
fn small_image(name: &str, size: usize, step: usize, period: usize) -> PathBuf {
    let path = temp_dir(name).join("small.npy");
    let values = (0..size * size)
        .map(|i| ((i * step) % period) as f64 / period as f64)
        .collect();
    let array = Array {
        shape: vec![size, size],
        values,
        precision: Precision::F32,
    };
    write_npy(&path, &array).unwrap();
    path
}

/// The largest element-wise difference between two arrays of one shape.
fn max_difference(a: &Array, b: &Array) -> f64 {
    assert_eq!(a.shape, b.shape);
    a.values
        .iter()
        .zip(&b.values)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn default_synthesis_writes_every_result() {
    let out = temp_dir("default");
    let output = synth(&out, &["--max-iter", "3"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let history = history(&out);
    assert_eq!(floats(&history["losses"]).len(), 4);
    assert_eq!(floats(&history["penalties"]).len(), 4);
    assert_eq!(floats(&history["gradient_norm"]).len(), 3);
    assert_eq!(floats(&history["pixel_change_norm"]).len(), 3);
    assert_eq!(
        history["settings"]["model"],
        "gaussian:kernel_size=30x30,std=3,pad_mode=reflect"
    );
    assert_eq!(history["settings"]["backend"], "ndarray");
    let losses = floats(&history["losses"]);
    assert!(losses[3] < losses[0], "the loss should fall: {losses:?}");
    let metamer = read_npy(out.join("metamer.npy")).unwrap();
    assert_eq!(metamer.shape, vec![1, 1, 256, 256]);
    assert_eq!(metamer.precision, Precision::F32);
    assert!(out.join("metamer.png").is_file());
    // The status figure: metamer, loss and representation error, 500 pixels each.
    assert_eq!(png_size(&out.join("status.png")), (1500, 500));
    assert!(
        !out.join("animation.gif").exists(),
        "no animation without --store-progress"
    );
}

/// Width and height from a PNG file's header.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    let number = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (number(16), number(20))
}

fn plot(extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metamer"))
        .arg("plot")
        .args(extra)
        .output()
        .expect("the binary runs")
}

#[test]
fn figures_and_animations_of_a_synthesis() {
    let out = temp_dir("figures");
    let output = synth(
        &out,
        &[
            "--max-iter",
            "5",
            "--store-progress",
            "2",
            "--model",
            "gaussian:kernel_size=5",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(png_size(&out.join("status.png")), (1500, 500));
    // Iterations 0, 2, 4 and the final one.
    let gif = std::fs::File::open(out.join("animation.gif")).unwrap();
    let mut decoder = gif::DecodeOptions::new().read_info(gif).unwrap();
    let mut frames = 0;
    while decoder.read_next_frame().unwrap().is_some() {
        frames += 1;
    }
    assert_eq!(frames, 4);

    let file = out.join("synthesis.safetensors");
    let file = file.to_str().unwrap();
    let output = plot(&[
        file,
        "--iteration",
        "2",
        "--plots",
        "synthesis_imshow,synthesis_histogram",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let written = out.join("status-iteration-2.png");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        written.display().to_string()
    );
    assert_eq!(png_size(&written), (1000, 500));

    let svg = out.join("figure.svg");
    let output = plot(&[file, "--format", "svg", "--output", svg.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains("Metamer[0] [iteration=5]"));

    let apng = out.join("animation.png");
    let output = plot(&[file, "--format", "apng", "--output", apng.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(png_size(&apng), (1500, 500));

    for (args, message) in [
        (
            vec![file, "--format", "gif", "--iteration", "1"],
            "error: --iteration applies to png and svg figures",
        ),
        (
            vec![file, "--plots", "synthesis_imshow,plot_loss"],
            "error: included_plots contained value(s) ['plot_loss']!",
        ),
        (
            vec![file, "--iteration", "9"],
            "error: iteration=9 out of bounds with 6 iterations of synthesis",
        ),
        (
            vec![file, "--format", "svg", "--output", "figure.png"],
            "error: --output figure.png must end in .svg for --format svg",
        ),
    ] {
        let output = plot(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let error = stderr(&output);
        assert_eq!(error.lines().count(), 1, "{error}");
        assert!(error.starts_with(message), "{args:?}: {error}");
    }
}

#[test]
fn float64_and_ndarray_keep_the_dtype_and_agree() {
    let (a, b) = (temp_dir("f64-flex"), temp_dir("f64-ndarray"));
    let args = [
        "--max-iter",
        "2",
        "--dtype",
        "f64",
        "--model",
        "gaussian:kernel_size=5",
        "--seed",
        "4",
    ];
    assert!(synth(&a, &args).status.success());
    let with_ndarray: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--backend", "ndarray"])
        .collect();
    assert!(synth(&b, &with_ndarray).status.success());
    let (ma, mb) = (
        read_npy(a.join("metamer.npy")).unwrap(),
        read_npy(b.join("metamer.npy")).unwrap(),
    );
    assert_eq!(ma.precision, Precision::F64);
    let max_diff = max_difference(&ma, &mb);
    assert!(max_diff < 1e-12, "backends differ by {max_diff}");
}

#[test]
fn init_is_used_unchanged_and_store_progress_saves() {
    let out = temp_dir("init");
    let init = Array {
        shape: vec![1, 1, 256, 256],
        values: (0..65536).map(|i| (i % 256) as f64 / 255.0).collect(),
        precision: Precision::F32,
    };
    let init_path = out.join("init.npy");
    write_npy(&init_path, &init).unwrap();
    let output = synth(
        &out,
        &["--init", init_path.to_str().unwrap(), "--max-iter", "0"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let written = read_npy(out.join("metamer.npy")).unwrap().values;
    let expected: Vec<f64> = init.values.iter().map(|v| f64::from(*v as f32)).collect();
    assert!(written == expected, "the metamer differs from --init");

    let output = synth(&out, &["--max-iter", "5", "--store-progress", "2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        read_npy(out.join("saved_metamer.npy")).unwrap().shape,
        vec![4, 1, 1, 256, 256]
    );
}

#[test]
fn optimizers_and_schedulers_are_chosen_with_torch_names() {
    let out = temp_dir("sgd-step");
    let args = [
        "--max-iter",
        "4",
        "--model",
        "gaussian:kernel_size=5",
        "--optimizer",
        "sgd",
        "--optimizer-opt",
        "momentum=0.9",
        "--lr",
        "0.02",
        "--scheduler",
        "step",
        "--scheduler-opt",
        "step_size=2,gamma=0.5",
    ];
    let output = synth(&out, &args);
    assert!(output.status.success(), "{}", stderr(&output));
    let written = history(&out);
    assert_eq!(floats(&written["learning_rate"]), [0.02, 0.02, 0.01, 0.01]);
    assert_eq!(written["settings"]["optimizer"], "SGD");
    assert_eq!(written["settings"]["scheduler"], "step");

    let output = synth(
        &out,
        &[
            "--max-iter",
            "2",
            "--optimizer",
            "lbfgs",
            "--optimizer-opt",
            "history_size=10,max_iter=4,line_search_fn=strong_wolfe",
            "--lr",
            "1",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(history(&out)["settings"]["optimizer"], "LBFGS");
}

#[test]
fn bad_input_gives_one_clear_line_and_failure() {
    let out = temp_dir("errors");
    let wrong = out.join("wrong.npy");
    write_npy(
        &wrong,
        &Array {
            shape: vec![3],
            values: vec![0.0; 3],
            precision: Precision::F32,
        },
    )
    .unwrap();
    let garbage = out.join("garbage.png");
    std::fs::write(&garbage, b"definitely not a png").unwrap();
    let cases: [(Vec<&str>, &str); 8] = [
        (
            vec!["--optimizer", "sgd", "--optimizer-opt", "momentun=0.9"],
            "unknown sgd option \"momentun\"; expected: momentum",
        ),
        (
            vec!["--scheduler", "cosine"],
            "the cosine scheduler needs T_max",
        ),
        (
            vec!["--optimizer", "rmsprop"],
            "invalid value 'rmsprop' for '--optimizer",
        ),
        (
            vec!["--model", "vgg11"],
            "unknown model \"vgg11\"; expected one of: identity, gaussian",
        ),
        (
            vec!["--init", wrong.to_str().unwrap()],
            "has shape [3] but the image has shape [1, 1, 256, 256]",
        ),
        (
            vec!["--image", garbage.to_str().unwrap()],
            "is not a readable image",
        ),
        (
            vec!["--image", "/nonexistent/picture.png"],
            "cannot read /nonexistent/picture.png",
        ),
        (
            vec!["--penalty-lambda", "-1"],
            "penalty_lambda must be non-negative",
        ),
    ];
    for (args, expected) in cases {
        let output = synth(&out, &args);
        assert!(!output.status.success(), "{args:?} should fail");
        let text = stderr(&output);
        assert!(text.contains(expected), "{args:?}: {text}");
        assert_eq!(text.trim_end().lines().count(), 1, "{args:?}: {text}");
    }
}

#[test]
fn a_diverging_synthesis_keeps_its_history() {
    let out = temp_dir("diverge");
    let output = synth(
        &out,
        &[
            "--optimizer",
            "sgd",
            "--lr",
            "1e30",
            "--max-iter",
            "10",
            "--model",
            "gaussian:kernel_size=5",
        ],
    );
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.starts_with("error: Found a NaN in loss during optimization (iteration "),
        "{text}"
    );
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    let written = history(&out);
    let iterations = written["iterations"].as_u64().unwrap() as usize;
    assert!((1..10).contains(&iterations), "stopped at {iterations}");
    assert_eq!(
        written["gradient_norm"].as_array().unwrap().len(),
        iterations
    );
    assert!(out.join("metamer.npy").is_file());
}

/// Optimizer hyper-parameters torch refuses are refused with torch's messages (and a NaN
/// learning rate, which torch's SGD lets through, everywhere).
#[test]
fn optimizer_arguments_are_checked_as_torch_checks_them() {
    let out = temp_dir("torch-checks");
    let cases: &[(&[&str], &str)] = &[
        (&["--lr", "-1"], "Invalid learning rate: -1.0"),
        (&["--lr", "nan"], "Invalid learning rate: nan"),
        (
            &["--optimizer", "sgd", "--lr", "nan"],
            "Invalid learning rate: nan",
        ),
        (
            &["--optimizer", "lbfgs", "--lr", "-0.5"],
            "Invalid learning rate: -0.5",
        ),
        (
            &["--optimizer", "adam", "--optimizer-opt", "betas=2:3"],
            "Invalid beta parameter at index 0: 2.0",
        ),
        (
            &["--optimizer", "adamw", "--optimizer-opt", "betas=0.9:1"],
            "Invalid beta parameter at index 1: 1.0",
        ),
        (
            &["--optimizer", "adam", "--optimizer-opt", "eps=-1e-8"],
            "Invalid epsilon value: -1e-8",
        ),
        (
            &["--optimizer", "adam", "--optimizer-opt", "weight_decay=-1"],
            "Invalid weight_decay value: -1.0",
        ),
        (
            &["--optimizer", "sgd", "--optimizer-opt", "momentum=-0.5"],
            "Invalid momentum value: -0.5",
        ),
        (
            &["--optimizer", "sgd", "--optimizer-opt", "nesterov=true"],
            "Nesterov momentum requires a momentum and zero dampening",
        ),
    ];
    for (args, expected) in cases {
        let output = synth(&out, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let text = stderr(&output);
        assert_eq!(text.trim_end(), format!("error: {expected}"), "{args:?}");
    }
}

/// A run whose last step makes the loss NaN fails like any other NaN, keeping its history.
#[test]
fn a_nan_after_the_last_step_is_an_error() {
    let out = temp_dir("last-nan");
    let image = small_image("last-nan-image", 24, 3, 7);
    let output = synth(
        &out,
        &[
            "--image",
            image.to_str().unwrap(),
            "--model",
            "gaussian:kernel_size=3",
            "--optimizer",
            "sgd",
            "--lr",
            "1e30",
            "--max-iter",
            "1",
        ],
    );
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.starts_with("error: Found a NaN in loss during optimization (iteration 1"),
        "{text}"
    );
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert_eq!(history(&out)["iterations"], 1);
}

/// Images too small for a model's kernels are refused before the model runs, in one line,
/// with no panic message or backtrace.
#[test]
fn images_too_small_for_a_model_are_refused_in_one_line() {
    let image = small_image("tiny", 8, 3, 7);
    let cases: &[(&str, &str)] = &[
        (
            "gaussian:kernel_size=30",
            "reflect padding of (14, 15) needs a dimension longer than that, but it has 8",
        ),
        (
            "center_surround:kernel_size=31",
            "reflect padding of (15, 15)",
        ),
        ("on_off:kernel_size=31", "reflect padding of (15, 15)"),
        (
            "linear:kernel_size=21,pad_mode=circular",
            "circular padding of (10, 10)",
        ),
        (
            "laplacian_pyramid:n_scales=4",
            "needs at least 3 pixels per side at every scale, got 2",
        ),
    ];
    for (model, expected) in cases {
        let out = temp_dir("tiny-out");
        let output = synth(
            &out,
            &["--image", image.to_str().unwrap(), "--model", model],
        );
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{model}: {text}");
        assert!(text.contains(expected), "{model}: {text}");
        assert!(text.contains("[1, 1, 8, 8]"), "{model}: {text}");
        assert_eq!(text.trim_end().lines().count(), 1, "{model}: {text}");
    }
}

/// Odd but valid values work: no iteration at all, a store interval longer than the run.
#[test]
fn odd_but_valid_values_work() {
    let image = small_image("odd", 16, 3, 7);
    let image = image.to_str().unwrap();
    let model = "gaussian:kernel_size=3";
    let out = temp_dir("zero-iterations");
    let output = synth(
        &out,
        &["--image", image, "--model", model, "--max-iter", "0"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let written = history(&out);
    assert_eq!(written["iterations"], 0);
    assert_eq!(written["losses"].as_array().unwrap().len(), 1);
    let out = temp_dir("long-store");
    let output = synth(
        &out,
        &[
            "--image",
            image,
            "--model",
            model,
            "--max-iter",
            "3",
            "--store-progress",
            "50",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(history(&out)["iterations"], 3);
}

#[test]
fn seeded_einstein_reproduces_plenoptic() {
    if !sample_images_available() {
        return;
    }
    let out = temp_dir("einstein");
    let output = synth(&out, &["--image", "einstein", "--max-iter", "5"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed: Vec<f64> = floats(&history(&out)["losses"])
        .iter()
        .map(|l| (l * 1e4).round() / 1e4)
        .collect();
    assert_eq!(printed, [0.0194, 0.0198, 0.0179, 0.0160, 0.0145, 0.0132]);
}

#[test]
fn every_model_is_available_and_listed() {
    let listing = Command::new(env!("CARGO_BIN_EXE_metamer"))
        .arg("models")
        .output()
        .expect("the binary runs");
    assert!(listing.status.success());
    let text = String::from_utf8_lossy(&listing.stdout);
    for name in [
        "identity",
        "gaussian",
        "center_surround",
        "linear",
        "linear_nonlinear",
        "luminance_gain_control",
        "luminance_contrast_gain_control",
        "on_off",
        "laplacian_pyramid",
        "portilla_simoncelli",
    ] {
        assert!(
            text.contains(&format!("\n{name}: ")),
            "{name} missing from:\n{text}"
        );
    }
    assert!(text.contains("pretrained"), "{text}");

    let image = small_image("models", 48, 7, 13);
    for spec in [
        "on_off:pretrained=true,cache_filt=true,apply_mask=true",
        "luminance_contrast_gain_control:kernel_size=7",
        "center_surround:kernel_size=9,on_center=true:false",
        "linear",
        "laplacian_pyramid:n_scales=3",
    ] {
        let out = temp_dir(&spec.replace([':', ',', '='], "_"));
        let output = synth(
            &out,
            &[
                "--image",
                image.to_str().unwrap(),
                "--model",
                spec,
                "--max-iter",
                "3",
            ],
        );
        assert!(output.status.success(), "{spec}: {}", stderr(&output));
        let losses = floats(&history(&out)["losses"]);
        assert_eq!(losses.len(), 4, "{spec}");
        assert!(losses.iter().all(|l| l.is_finite()), "{spec}: {losses:?}");
    }
    let out = temp_dir("bad-model");
    let output = synth(&out, &["--model", "on_off:pretrained=true,kernel_size=7"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains("pretrained model has kernel_size (31, 31)"),
        "{message}"
    );
}

#[test]
fn resume_continues_exactly_and_examine_describes() {
    let image = small_image("resume-image", 32, 5, 11);
    let settings = [
        "--image",
        image.to_str().unwrap(),
        "--model",
        "luminance_gain_control:kernel_size=7",
        "--optimizer",
        "sgd",
        "--optimizer-opt",
        "momentum=0.9",
        "--scheduler",
        "step",
        "--scheduler-opt",
        "step_size=3,gamma=0.5",
        "--store-progress",
        "2",
        "--seed",
        "3",
    ];
    let straight = temp_dir("straight");
    let output = synth(&straight, &[&settings[..], &["--max-iter", "8"]].concat());
    assert!(output.status.success(), "{}", stderr(&output));
    let first = temp_dir("first");
    let output = synth(&first, &[&settings[..], &["--max-iter", "4"]].concat());
    assert!(output.status.success(), "{}", stderr(&output));
    let file = first.join("synthesis.safetensors");
    let second = temp_dir("second");
    let output = synth(
        &second,
        &["--resume", file.to_str().unwrap(), "--max-iter", "4"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let (a, b) = (history(&straight), history(&second));
    for key in [
        "losses",
        "penalties",
        "gradient_norm",
        "pixel_change_norm",
        "learning_rate",
    ] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(
        read_npy(straight.join("metamer.npy")).unwrap(),
        read_npy(second.join("metamer.npy")).unwrap()
    );
    assert_eq!(
        read_npy(straight.join("saved_metamer.npy")).unwrap(),
        read_npy(second.join("saved_metamer.npy")).unwrap()
    );

    // Settings come from the file; changing them is refused in one line.
    let output = synth(
        &second,
        &["--resume", file.to_str().unwrap(), "--model", "identity"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stderr(&output).lines().count(), 1);

    let examined = Command::new(env!("CARGO_BIN_EXE_metamer"))
        .arg("examine")
        .arg(&file)
        .output()
        .unwrap();
    assert!(examined.status.success());
    let text = String::from_utf8_lossy(&examined.stdout);
    for expected in [
        "format version   1",
        "synthesis        Metamer",
        "dtype            F32",
        "iterations       4",
        "optimizer        SGD",
        "scheduler        StepLR",
        "metamer                          F32 [1, 1, 32, 32]",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }

    // A damaged file: one line naming the problem, non-zero exit.
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    let damaged = temp_dir("damaged").join("synthesis.safetensors");
    std::fs::write(&damaged, bytes).unwrap();
    let output = synth(
        &temp_dir("after-damage"),
        &["--resume", damaged.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("checksum"), "{message}");
}

/// SIGTERM mid-synthesis: the iteration finishes, the synthesis and outputs are written, the exit
/// status is 130, and `--resume` reaches exactly what an uninterrupted run does.
#[cfg(unix)]
#[test]
fn a_signal_stops_cleanly_and_resume_matches() {
    let image = small_image("signal-image", 48, 3, 17);
    let settings = [
        "--image",
        image.to_str().unwrap(),
        "--model",
        "gaussian:kernel_size=5",
        "--stop-criterion",
        "-1",
    ];
    let out = temp_dir("signalled");
    let mut child = Command::new(env!("CARGO_BIN_EXE_metamer"))
        .arg("synth")
        .args(settings)
        .args([
            "--quiet",
            "--max-iter",
            "100000000",
            "--checkpoint-every",
            "5",
            "--out",
        ])
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let checkpoint = out.join("synthesis.safetensors");
    let started = std::time::Instant::now();
    while !checkpoint.exists() {
        assert!(started.elapsed().as_secs() < 120, "no checkpoint appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut message = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut message).unwrap();
    assert_eq!(status.code(), Some(130), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("interrupted after"), "{message}");
    let done = history(&out)["iterations"].as_u64().unwrap() as usize;
    assert!(done >= 5, "{done}");

    let resumed = temp_dir("signal-resumed");
    let output = synth(
        &resumed,
        &["--resume", checkpoint.to_str().unwrap(), "--max-iter", "3"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let straight = temp_dir("signal-straight");
    let total = (done + 3).to_string();
    let output = synth(
        &straight,
        &[&settings[..], &["--max-iter", &total]].concat(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let (a, b) = (history(&straight), history(&resumed));
    for key in ["losses", "penalties", "gradient_norm", "pixel_change_norm"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(
        read_npy(straight.join("metamer.npy")).unwrap(),
        read_npy(resumed.join("metamer.npy")).unwrap()
    );
}

#[test]
fn texture_metamers_coarse_to_fine_and_resumed() {
    let image = small_image("texture-image", 32, 7, 13);
    let out = temp_dir("texture-ctf");
    let settings = [
        "--image",
        image.to_str().unwrap(),
        "--model",
        "portilla_simoncelli:n_scales=2,n_orientations=3,spatial_corr_width=5",
        "--loss",
        "l2",
        "--coarse-to-fine",
        "separate",
        "--change-scale-criterion",
        "none",
        "--ctf-iters-to-check",
        "2",
    ];
    let run = |out: &Path, max_iter: &str| {
        let output = synth(out, &[&settings[..], &["--max-iter", max_iter]].concat());
        assert!(output.status.success(), "{}", stderr(&output));
        history(out)
    };
    let whole = run(&out, "7");
    // Two iterations per scale: pixel statistics, lowpass, scale 1, scale 0, then the highpass.
    let timing = &whole["scales_timing"];
    let names: Vec<&str> = timing
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "pixel_statistics",
            "residual_lowpass",
            "1",
            "0",
            "residual_highpass",
            "all"
        ]
    );
    assert_eq!(floats(&timing["residual_lowpass"]), [2.0, 3.0]);
    assert_eq!(floats(&timing["0"]), [6.0]);
    assert_eq!(floats(&whole["scales_loss"]).len(), 7);
    assert_eq!(whole["scales"][0], "0");
    assert_eq!(whole["settings"]["coarse_to_fine"], "separate");

    let first = temp_dir("texture-first");
    run(&first, "4");
    let resumed = temp_dir("texture-resumed");
    let output = Command::new(env!("CARGO_BIN_EXE_metamer"))
        .args(["synth", "--quiet", "--max-iter", "3", "--out"])
        .arg(&resumed)
        .arg("--resume")
        .arg(first.join("synthesis.safetensors"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let continued = history(&resumed);
    assert_eq!(floats(&continued["losses"]), floats(&whole["losses"]));
    assert_eq!(continued["scales_timing"], whole["scales_timing"]);

    // The texture losses: the PS loss on a plain synthesis, and its refusals.
    let plain = temp_dir("texture-ps-loss");
    let output = synth(
        &plain,
        &[
            "--image",
            image.to_str().unwrap(),
            "--model",
            "portilla_simoncelli:n_scales=2,spatial_corr_width=5",
            "--loss",
            "ps",
            "--max-iter",
            "2",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(history(&plain)["settings"]["loss"], "portilla_simoncelli");
    for (extra, expected) in [
        (
            vec!["--model", "gaussian", "--loss", "groupwise"],
            "needs --model portilla_simoncelli",
        ),
        (
            vec!["--model", "gaussian", "--coarse-to-fine", "together"],
            "model has no scales attribute",
        ),
        (
            vec![
                "--model",
                "portilla_simoncelli",
                "--loss",
                "ps",
                "--coarse-to-fine",
                "together",
            ],
            "cannot follow coarse-to-fine",
        ),
        (
            vec![
                "--model",
                "portilla_simoncelli:n_scales=3",
                "--image",
                image.to_str().unwrap(),
            ],
            "spatial_corr_width",
        ),
    ] {
        let output = synth(&temp_dir("texture-bad"), &extra);
        assert_eq!(output.status.code(), Some(1), "{extra:?}");
        let message = stderr(&output);
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(message.contains(expected), "{extra:?}: {message}");
    }
}

/// A synthesis on another compiled backend agrees with ndarray's, in `dtype`, to `tolerance`
/// relative, and records its backend.
#[cfg(any(feature = "wgpu", feature = "tch"))]
fn agrees_with_ndarray(backend: &'static str, dtype: &'static str, tolerance: f64) {
    let image = small_image(&format!("image-{backend}-{dtype}"), 24, 7, 31);
    let (here, there) = (
        temp_dir(&format!("ndarray-vs-{backend}-{dtype}")),
        temp_dir(&format!("on-{backend}-{dtype}")),
    );
    let args = |backend: &'static str| {
        vec![
            "--image".to_string(),
            image.display().to_string(),
            "--model".into(),
            "center_surround:kernel_size=7".into(),
            "--max-iter".into(),
            "4".into(),
            "--seed".into(),
            "3".into(),
            "--backend".into(),
            backend.into(),
            "--dtype".into(),
            dtype.into(),
        ]
    };
    let run = |out: &Path, args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = synth(out, &args);
        assert!(output.status.success(), "{}", stderr(&output));
    };
    run(&here, args("ndarray"));
    run(&there, args(backend));
    assert_eq!(history(&there)["settings"]["backend"], backend);
    let (expected, actual) = (
        floats(&history(&here)["losses"]),
        floats(&history(&there)["losses"]),
    );
    assert_eq!(actual.len(), expected.len());
    for (a, e) in actual.iter().zip(&expected) {
        assert!(
            (a - e).abs() <= tolerance * e.abs(),
            "{actual:?} vs {expected:?}"
        );
    }
    let max_diff = max_difference(
        &read_npy(there.join("metamer.npy")).unwrap(),
        &read_npy(here.join("metamer.npy")).unwrap(),
    );
    assert!(
        max_diff < tolerance,
        "{backend} differs from ndarray by {max_diff} in {dtype}"
    );
}

#[cfg(feature = "wgpu")]
#[test]
fn synthesis_agrees_on_wgpu() {
    agrees_with_ndarray("wgpu", "f32", 1e-4);
}

/// lavapipe has float64; a GPU without it gets a one-line error instead (`check_dtype`).
#[cfg(feature = "wgpu")]
#[test]
fn float64_synthesis_agrees_on_wgpu() {
    agrees_with_ndarray("wgpu", "f64", 1e-10);
}

#[cfg(feature = "tch")]
#[test]
fn synthesis_agrees_on_tch() {
    agrees_with_ndarray("tch", "f32", 1e-4);
}

#[cfg(feature = "tch")]
#[test]
fn float64_synthesis_agrees_on_tch() {
    agrees_with_ndarray("tch", "f64", 1e-10);
}

#[test]
fn help_describes_each_command_with_its_own_text() {
    let output = Command::new(env!("CARGO_BIN_EXE_metamer"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let line = |command: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{command} ")))
            .unwrap_or_else(|| panic!("no line for {command} in:\n{text}"))
            .to_string()
    };
    assert!(line("synth").contains("Synthesize a metamer"), "{text}");
    assert!(line("plot").contains("Draw a saved synthesis"), "{text}");
    assert!(
        line("examine").contains("Describe a saved synthesis"),
        "{text}"
    );
    assert!(line("study").contains("many syntheses"), "{text}");
}

/// A binary built with libtorch starts without `LD_LIBRARY_PATH` (its rpath names libtorch's
/// folder), whichever backend it then uses.
#[cfg(feature = "tch")]
#[test]
fn a_tch_build_starts_without_a_library_path() {
    let out = temp_dir("no-library-path");
    for backend in ["ndarray", "tch"] {
        let output = Command::new(env!("CARGO_BIN_EXE_metamer"))
            .args([
                "synth",
                "--quiet",
                "--max-iter",
                "1",
                "--backend",
                backend,
                "--out",
            ])
            .arg(&out)
            .env_remove("LD_LIBRARY_PATH")
            .output()
            .unwrap();
        assert!(output.status.success(), "{backend}: {}", stderr(&output));
    }
}

/// Every option of `synth`, `plot` and `examine` given a bad value: one line, non-zero exit
/// (2 for values the command line itself refuses, 1 for the rest), never a panic.
#[test]
fn bad_values_of_every_command_give_one_line() {
    let image = small_image("bad-values", 12, 3, 7);
    let image = image.to_str().unwrap();
    let saved = temp_dir("bad-values-saved");
    let output = synth(
        &saved,
        &[
            "--image",
            image,
            "--model",
            "gaussian:kernel_size=3",
            "--max-iter",
            "3",
            "--store-progress",
            "1",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let scratch = temp_dir("bad-values-scratch");
    let file = saved.join("synthesis.safetensors");
    let file = file.to_str().unwrap();
    let small = [
        "synth",
        "--image",
        image,
        "--model",
        "gaussian:kernel_size=3",
    ];
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["synth", "--max-iter", "-1"],
            2,
            "unexpected argument '-1'",
        ),
        (
            vec!["synth", "--seed", "abc"],
            2,
            "invalid value 'abc' for '--seed",
        ),
        (
            vec!["synth", "--range", "1,0"],
            2,
            "range minimum 1 must be below its maximum 0",
        ),
        (vec!["synth", "--range", "abc"], 2, "range must be MIN,MAX"),
        (
            vec!["synth", "--change-scale-criterion", "abc"],
            2,
            "expected a number or none",
        ),
        (
            vec!["synth", "--dtype", "f16"],
            2,
            "invalid value 'f16' for '--dtype",
        ),
        (
            vec!["synth", "--backend", "cuda"],
            2,
            "invalid value 'cuda' for '--backend",
        ),
        (
            vec!["synth", "--checkpoint-every", "x"],
            2,
            "invalid value 'x'",
        ),
        (
            vec!["synth", "--store-progress", "x"],
            2,
            "invalid value 'x'",
        ),
        (
            vec!["synth", "--loss", "ps"],
            1,
            "it needs --model portilla_simoncelli",
        ),
        (
            [&small[..], &["--coarse-to-fine", "together"]].concat(),
            1,
            "cannot do coarse-to-fine synthesis",
        ),
        (
            vec!["synth", "--scheduler-opt", "gamma=2"],
            1,
            "--scheduler-opt needs --scheduler",
        ),
        (
            vec![
                "synth",
                "--scheduler",
                "step",
                "--scheduler-opt",
                "step_size=0",
            ],
            1,
            "step_size must be a positive integer",
        ),
        (
            vec![
                "synth",
                "--scheduler",
                "plateau",
                "--scheduler-opt",
                "factor=2",
            ],
            1,
            "factor must be below 1.0",
        ),
        (
            vec!["synth", "--init", "/nonexistent.npy"],
            1,
            "cannot read /nonexistent.npy",
        ),
        (
            vec!["synth", "--resume", "/nonexistent"],
            1,
            "cannot read /nonexistent",
        ),
        (
            [&small[..], &["--out", "/proc/forbidden"]].concat(),
            1,
            "cannot write /proc/forbidden",
        ),
        (vec!["plot", "/nonexistent"], 1, "cannot read /nonexistent"),
        (vec!["plot", file, "--iteration", "999"], 1, "out of bounds"),
        (
            vec!["plot", file, "--format", "gif", "--iteration", "1"],
            1,
            "--iteration applies",
        ),
        (
            vec!["plot", file, "--zoom", "0"],
            1,
            "zoom must be positive",
        ),
        (vec!["plot", file, "--plots", "nonsense"], 1, "['nonsense']"),
        (
            vec!["plot", file, "--output", "/tmp/x.jpg"],
            1,
            "must end in .png",
        ),
        (
            vec!["plot", file, "--batch-idx", "5"],
            1,
            "batch_idx=5 is out of bounds",
        ),
        (
            vec!["plot", file, "--channel-idx", "3"],
            1,
            "channel_idx=3 is out of bounds",
        ),
        (
            vec!["plot", file, "--format", "gif", "--framerate", "0"],
            1,
            "framerate must be positive",
        ),
        (
            vec!["plot", file, "--format", "webp"],
            2,
            "invalid value 'webp'",
        ),
        (
            vec!["plot", file, "--output", "/nonexistent/dir/x.png"],
            1,
            "cannot write /nonexistent/dir/x.png: No such file",
        ),
        (
            vec!["examine", "/nonexistent"],
            1,
            "cannot read /nonexistent",
        ),
        (
            vec!["examine", "/etc/hostname"],
            1,
            "is not a valid metamer safetensors file",
        ),
        (
            vec!["study", "run", "/nonexistent.toml", "--out", "x"],
            1,
            "cannot read the plan",
        ),
        (vec!["study", "run", "plan.toml"], 2, "--out <OUT>"),
        (
            vec!["study", "run", "plan.toml", "--out", "x", "--jobs", "0"],
            2,
            "invalid value '0'",
        ),
    ];
    for (args, code, expected) in cases {
        let mut args = args;
        if args[0] == "synth" && !args.contains(&"--out") {
            args.extend(["--out", scratch.to_str().unwrap()]);
            args.insert(1, "--quiet");
        }
        let output = Command::new(env!("CARGO_BIN_EXE_metamer"))
            .args(&args)
            .output()
            .unwrap();
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {text}");
        assert!(text.contains(expected), "{args:?}: {text}");
        assert_eq!(text.trim_end().lines().count(), 1, "{args:?}: {text}");
        assert!(!text.contains("panicked"), "{args:?}: {text}");
    }
}

/// `--backend wgpu` where no Vulkan driver can be found: one line saying so and how to mend it.
#[cfg(feature = "wgpu")]
#[test]
fn a_wgpu_backend_without_an_adapter_says_so_in_one_line() {
    let out = temp_dir("no-adapter");
    let output = Command::new(env!("CARGO_BIN_EXE_metamer"))
        .args([
            "synth",
            "--quiet",
            "--max-iter",
            "1",
            "--backend",
            "wgpu",
            "--out",
        ])
        .arg(&out)
        // The Vulkan loader then finds no driver, lavapipe included.
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
        .output()
        .unwrap();
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert!(text.contains("the wgpu backend cannot start"), "{text}");
    assert!(text.contains("mesa-vulkan-drivers"), "{text}");
}
