//! Training from scratch to Learner: gradients against finite differences, a Learner that must
//! solve a small synthetic problem, callbacks, save/load/predict and failure behaviour.

mod common;

use std::sync::{Arc, Mutex};

use burn::prelude::*;
use common::synthetic_dls;
use fastburn::Error;
use fastburn::data::{Dataset, ItemTfms, ResizeMethod};
use fastburn::learner::{ADAM, Callback, Control, Event, FitState, Learner, SGD, Sgd, Stepper};
use fastburn::loss::{LossFn, bce_with_logits, cross_entropy, mnist_loss};
use fastburn::metrics::{ACCURACY, BATCH_ACCURACY};
use fastburn::models::{
    Arch, Model, ModelInfo, linear, load_into, load_model, save_model, simple_net,
};
use fastburn::scratch::linear1;

fn floats(t: Tensor<2>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

#[test]
fn grad_of_x_squared() {
    let dev = fastburn::device();
    let xt = Tensor::<1>::from_floats([3.0f32], &dev).require_grad();
    let g = xt.grad(&xt.clone().square().sum().backward()).unwrap();
    assert_eq!(g.into_data().iter::<f32>().collect::<Vec<_>>(), vec![6.0]);
    let xt = Tensor::<1>::from_floats([3.0f32, 4.0, 10.0], &dev).require_grad();
    let g = xt.grad(&xt.clone().square().sum().backward()).unwrap();
    assert_eq!(
        g.into_data().iter::<f32>().collect::<Vec<_>>(),
        vec![6.0, 8.0, 20.0]
    );
}

/// Central differences of `loss(params)` with respect to every entry of `params[which]`.
fn finite_differences(
    loss: &dyn Fn(&[Tensor<2>]) -> f32,
    params: &[Tensor<2>],
    which: usize,
) -> Vec<f32> {
    let h = 1e-2f32;
    let base = floats(params[which].clone());
    let shape = params[which].dims();
    let dev = params[which].device();
    (0..base.len())
        .map(|i| {
            let shifted = |d: f32| {
                let mut v = base.clone();
                v[i] += d;
                let mut p = params.to_vec();
                p[which] = Tensor::from_data(TensorData::new(v, shape), &dev);
                loss(&p)
            };
            (shifted(h) - shifted(-h)) / (2.0 * h)
        })
        .collect()
}

fn assert_close(autodiff: &[f32], numeric: &[f32], what: &str) {
    assert_eq!(autodiff.len(), numeric.len());
    for (i, (a, n)) in autodiff.iter().zip(numeric).enumerate() {
        assert!(
            (a - n).abs() < 2e-3 + 2e-2 * n.abs(),
            "{what}[{i}]: autodiff {a} vs finite differences {n}"
        );
    }
}

#[test]
fn linear1_with_mnist_loss_matches_finite_differences() {
    let dev = fastburn::device();
    let x = Tensor::<2>::from_data(
        TensorData::new(
            (0..40)
                .map(|i| ((i * 37 % 11) as f32) / 10.0 - 0.5)
                .collect::<Vec<_>>(),
            [8, 5],
        ),
        &dev.clone().inner(),
    );
    let y = Tensor::<1, Int>::from_data([1, 0, 1, 1, 0, 0, 1, 0], &dev.clone().inner());
    let w = Tensor::<2>::from_floats([[0.3f32], [-0.2], [0.5], [0.1], [-0.4]], &dev).require_grad();
    let b = Tensor::<2>::from_floats([[0.05f32]], &dev).require_grad();
    let params = vec![w, b];
    let grads = mnist_loss(linear1(x.clone(), &params), y.clone()).backward();
    let loss = |p: &[Tensor<2>]| {
        let p: Vec<Tensor<2>> = p.iter().map(|t| t.clone().inner()).collect();
        mnist_loss(linear1(x.clone(), &p), y.clone()).into_scalar::<f32>()
    };
    for (i, name) in [(0, "weights"), (1, "bias")] {
        let auto = floats(params[i].grad(&grads).unwrap());
        assert_close(&auto, &finite_differences(&loss, &params, i), name);
    }
}

#[test]
fn loss_gradients_match_finite_differences() {
    let dev = fastburn::device();
    let logits = [
        [1.2f32, -0.3, 0.4],
        [0.1, 0.9, -1.5],
        [-0.7, 0.2, 0.3],
        [2.0, 1.0, -2.0],
    ];
    let y3 = Tensor::<1, Int>::from_data([0, 1, 2, 1], &dev.clone().inner());
    let y2 = Tensor::<1, Int>::from_data([1, 0, 1, 0], &dev.clone().inner());
    let cases: [(LossFn, &Tensor<1, Int>, usize, &str); 3] = [
        (cross_entropy, &y3, 3, "cross_entropy"),
        (bce_with_logits, &y2, 1, "bce_with_logits"),
        (mnist_loss, &y2, 1, "mnist_loss"),
    ];
    for (loss_fn, y, cols, name) in cases {
        let v: Vec<f32> = logits.iter().flat_map(|r| r[..cols].to_vec()).collect();
        let p = Tensor::<2>::from_data(TensorData::new(v, [4, cols]), &dev).require_grad();
        let grads = loss_fn(p.clone(), y.clone()).backward();
        let auto = floats(p.grad(&grads).unwrap());
        let loss =
            |ps: &[Tensor<2>]| loss_fn(ps[0].clone().inner(), y.clone()).into_scalar::<f32>();
        assert_close(&auto, &finite_differences(&loss, &[p], 0), name);
    }
}

#[test]
fn learner_drives_the_loss_down_on_a_synthetic_problem() {
    let dev = fastburn::device();
    let mut learn = Learner::new(
        synthetic_dls(1),
        linear(4, 1, &dev),
        SGD,
        bce_with_logits,
        vec![BATCH_ACCURACY],
    );
    learn.quiet(true);
    let (before, _) = learn.validate().unwrap();
    learn.fit(30, 4.0).unwrap();
    let last = learn.recorder().values.last().unwrap();
    assert!(
        last.valid_loss < before * 0.5,
        "valid loss {before} -> {}",
        last.valid_loss
    );
    assert!(last.metrics[0] >= 0.9, "accuracy {}", last.metrics[0]);
    assert_eq!(learn.recorder().values.len(), 30);
    assert_eq!(learn.recorder().losses.len(), 30 * 8);
    // Adam and SGD with momentum, through the same opt_func, solve it too.
    let rules: [(Box<dyn Stepper>, f64); 2] = [
        (Box::new(ADAM), 0.01),
        (Box::new(Sgd { mom: 0.9, wd: 1e-4 }), 0.1),
    ];
    for (opt, lr) in rules {
        let name = opt.name().to_string();
        let mut learn = Learner::new(
            synthetic_dls(2),
            simple_net(4, 8, 2, &dev),
            opt,
            cross_entropy,
            vec![ACCURACY],
        );
        learn.quiet(true);
        learn.fit(30, lr).unwrap();
        let acc = learn.recorder().values.last().unwrap().metrics[0];
        assert!(acc >= 0.85, "{name}: accuracy {acc}");
    }
}

/// A rule a user writes is a peer of SGD and Adam: it trains, its buffers are kept per
/// parameter, a checkpoint saves them, and only a learner with the same rule resumes from it.
#[test]
fn a_users_own_optimizer_trains_and_checkpoints() {
    use fastburn::learner::{CheckpointCallback, Hypers, Update};
    #[derive(Debug)]
    struct RmsProp;
    impl Stepper for RmsProp {
        fn name(&self) -> &str {
            "rmsprop"
        }
        fn hypers(&self, lr: f64) -> Hypers {
            Hypers {
                lr,
                mom: 0.0,
                sqr_mom: 0.99,
                eps: 1e-8,
                wd: 0.0,
            }
        }
        fn buffers(&self) -> usize {
            1
        }
        fn step(&self, p: &mut [f32], g: &[f32], bufs: &mut [&mut [f32]], u: &Update) {
            let h = &u.hypers;
            let (a, lr, eps) = (h.sqr_mom as f32, (h.lr * u.mult) as f32, h.eps as f32);
            for ((p, g), v) in p.iter_mut().zip(g).zip(bufs[0].iter_mut()) {
                *v = a * *v + (1.0 - a) * g * g;
                *p -= lr * g / (v.sqrt() + eps);
            }
        }
    }
    let dev = fastburn::device();
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck.fbc");
    let learner = |rule: Box<dyn Stepper>| {
        let mut learn = Learner::new(
            synthetic_dls(3),
            simple_net(4, 8, 2, &dev),
            rule,
            cross_entropy,
            vec![ACCURACY],
        );
        learn.quiet(true);
        learn
    };
    let mut learn = learner(Box::new(RmsProp));
    learn.add_cb(CheckpointCallback::new(&ck, None));
    learn.fit(20, 0.01).unwrap();
    let acc = learn.recorder().values.last().unwrap().metrics[0];
    assert!(acc >= 0.85, "accuracy {acc}");
    let state = learn.opt.state("l1.weight").unwrap();
    assert_eq!((state.step, state.buffers.len()), (20 * 8, 1));
    assert!(
        state.buffers[0].iter().all(|v| *v >= 0.0) && state.buffers[0].iter().any(|v| *v > 0.0)
    );

    learner(Box::new(RmsProp)).resume(&ck).unwrap();
    let err = learner(Box::new(SGD)).resume(&ck).unwrap_err();
    assert!(
        matches!(err, Error::BadFile { .. }) && err.to_string().contains("rmsprop"),
        "{err}"
    );
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Event>>>);

struct Recording {
    log: Log,
    cancel_after_epoch: Option<usize>,
}

impl<M: Model> Callback<M> for Recording {
    fn call(
        &mut self,
        event: Event,
        _learn: &mut Learner<M>,
        fit: &mut FitState,
    ) -> fastburn::Result<Control> {
        self.log.0.lock().unwrap().push(event);
        Ok(match (event, self.cancel_after_epoch) {
            (Event::AfterEpoch, Some(e)) if fit.epoch == e => Control::CancelFit,
            _ => Control::Continue,
        })
    }
}

#[test]
fn callbacks_fire_in_order_and_can_cancel() {
    use Event::*;
    let dev = fastburn::device();
    let log = Log::default();
    let mut learn = Learner::new(
        synthetic_dls(3),
        linear(4, 1, &dev),
        SGD,
        mnist_loss,
        vec![],
    );
    learn.quiet(true);
    learn.add_cb(Recording {
        log: log.clone(),
        cancel_after_epoch: None,
    });
    learn.fit(2, 0.1).unwrap();
    let mut epoch = vec![BeforeEpoch, BeforeTrain];
    for _ in 0..8 {
        epoch.extend([BeforeBatch, AfterLoss, BeforeStep, AfterStep, AfterBatch]);
    }
    epoch.extend([AfterTrain, BeforeValidate, AfterValidate, AfterEpoch]);
    let mut want = vec![BeforeFit];
    want.extend(epoch.iter().chain(&epoch));
    want.push(AfterFit);
    assert_eq!(*log.0.lock().unwrap(), want);

    let log = Log::default();
    let mut learn = Learner::new(
        synthetic_dls(3),
        linear(4, 1, &dev),
        SGD,
        mnist_loss,
        vec![],
    );
    learn.quiet(true);
    learn.add_cb(Recording {
        log: log.clone(),
        cancel_after_epoch: Some(1),
    });
    learn.fit(5, 0.1).unwrap();
    assert_eq!(
        learn.recorder().values.len(),
        2,
        "cancelled after the second epoch"
    );
    assert_eq!(log.0.lock().unwrap().last(), Some(&AfterFit));
}

#[test]
fn a_diverging_loss_stops_training_with_a_clear_error() {
    let dev = fastburn::device();
    let mut learn = Learner::new(
        synthetic_dls(4),
        linear(4, 1, &dev),
        SGD,
        mnist_loss,
        vec![],
    );
    learn.quiet(true);
    let err = learn.fit(3, 1e40).unwrap_err();
    // The error says where, and carries the rate the run had (the command line suggests a
    // tenth of it).
    assert!(
        matches!(
            err,
            Error::Diverged {
                epoch: 0,
                batch: 1,
                lr: 1e40,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("epoch 0, batch 1"), "{err}");
}

#[test]
fn save_load_predict_round_trip_and_bad_files() {
    let dev = fastburn::device();
    let dir = tempfile::tempdir().unwrap();
    let mut learn = Learner::new(
        synthetic_dls(5),
        simple_net(4, 8, 1, &dev),
        SGD,
        mnist_loss,
        vec![],
    );
    learn.quiet(true);
    learn.fit(3, 0.5).unwrap();
    let path = dir.path().join("net.fbm");
    learn.save(&path).unwrap();

    let x = learn
        .dls
        .valid
        .dataset
        .batch(&[0, 1, 2, 3, 4, 5, 6, 7])
        .unwrap()
        .0;
    let want = floats(learn.predict(x.clone()));
    // Into a fresh model of the same shape...
    let (fresh, info) = load_into(simple_net(4, 8, 1, &dev), &path).unwrap();
    assert_eq!(
        info,
        ModelInfo {
            arch: Arch::SimpleNet,
            vocab: vec!["small".into(), "big".into()],
            norm: None,
            n_out: 1,
            item_tfms: ItemTfms {
                channels: 1,
                size: Some((2, 2)),
                method: ResizeMethod::Crop,
                presize: None,
            },
            aug: None,
        }
    );
    assert_eq!(
        floats(fastburn::models::Model::forward(&fresh, x.clone().inner())),
        want
    );
    // ...and into the learner itself, after more training moved its weights.
    learn.fit(2, 0.5).unwrap();
    assert_ne!(floats(learn.predict(x.clone())), want);
    learn.load(&path).unwrap();
    assert_eq!(floats(learn.predict(x)), want);

    // Missing, not a model, truncated, another architecture: errors that name the file.
    let missing = dir.path().join("missing.fbm");
    assert!(matches!(load_model(&missing, &dev), Err(Error::Io { .. })));
    let text = dir.path().join("notes.fbm");
    std::fs::write(&text, "hello").unwrap();
    let err = load_model(&text, &dev).unwrap_err().to_string();
    assert!(
        err.contains("notes.fbm") && err.contains("not a fastburn model file"),
        "{err}"
    );
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.fbm");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_into(simple_net(4, 8, 1, &dev), &cut).unwrap_err();
    assert!(matches!(err, Error::BadFile { .. }), "{err}");
    assert!(err.to_string().contains("cut.fbm"), "{err}");
    let err = load_into(linear(4, 1, &dev), &path).unwrap_err();
    assert!(matches!(err, Error::BadFile { .. }), "{err}");
    assert!(err.to_string().contains("simple-net"), "{err}");
    assert_eq!(
        dir.path().read_dir().unwrap().count(),
        3,
        "no temporary files left behind"
    );

    // save_model writes through a temporary file: an unwritable target leaves nothing.
    let info = ModelInfo {
        arch: Arch::Linear,
        vocab: vec![],
        norm: None,
        n_out: 1,
        item_tfms: ItemTfms::default(),
        aug: None,
    };
    let bad = dir.path().join("no-such-dir").join("x").join("m.fbm");
    std::fs::write(dir.path().join("no-such-dir"), "a file, not a folder").unwrap();
    assert!(save_model(&linear(4, 1, &dev), &info, &bad).is_err());
}

/// The trackers, as fastai's: the best model saved and loaded back, early stopping, the
/// learning rate cut on a plateau, and the table logged as CSV.
#[test]
fn trackers_save_the_best_stop_early_reduce_the_rate_and_log() {
    use fastburn::learner::{
        CSVLogger, EarlyStoppingCallback, ReduceLROnPlateau, SaveModelCallback,
    };
    let dev = fastburn::device();
    let dir = tempfile::tempdir().unwrap();
    let learner = || {
        let mut l = Learner::new(
            synthetic_dls(6),
            simple_net(4, 8, 1, &dev),
            SGD,
            mnist_loss,
            vec![BATCH_ACCURACY],
        );
        l.quiet(true);
        l
    };

    // SaveModelCallback: a rate that makes the loss climb after the first epochs; the model
    // left at the end is the best epoch's, and the file holds it.
    let best = dir.path().join("best.fbm");
    let mut learn = learner();
    learn.add_cb(SaveModelCallback::new("valid_loss", &best));
    // A good rate for three epochs, then the same rate uphill (gradient ascent), so the loss
    // climbs for certain. (A far too large rate did not: with a saturating sigmoid it can land
    // on a lower loss, and did on some initialisations.)
    let jump: fastburn::learner::Sched =
        std::sync::Arc::new(|pct| if pct < 0.5 { 4.0 } else { -4.0 });
    learn.add_cb(
        fastburn::learner::ParamScheduler::new().with(fastburn::learner::Hyper::Lr, vec![jump]),
    );
    learn.fit(6, 4.0).unwrap();
    let losses: Vec<f32> = learn
        .recorder()
        .values
        .iter()
        .map(|v| v.valid_loss)
        .collect();
    let min = losses.iter().copied().fold(f32::INFINITY, f32::min);
    assert!(
        losses[losses.len() - 1] > min,
        "the last epoch must not be the best: {losses:?}"
    );
    assert!(
        (learn.validate().unwrap().0 - min).abs() < 1e-6,
        "{losses:?} -> {}",
        learn.validate().unwrap().0
    );
    assert!(best.is_file());

    // EarlyStoppingCallback: a learning rate of zero never improves, so patience 2 stops the
    // run after the first epoch plus two without improvement.
    let mut learn = learner();
    learn.add_cb(EarlyStoppingCallback::new("valid_loss", 2));
    learn.fit(10, 0.0).unwrap();
    assert_eq!(learn.recorder().values.len(), 3);

    // ReduceLROnPlateau: the same plateau divides the rate by 10 every 2 epochs without progress.
    let mut learn = learner();
    learn.add_cb(ReduceLROnPlateau::new("valid_loss", 2, 10.0));
    learn.fit(5, 1e-9).unwrap();
    let lr = learn.opt.hypers[0].lr;
    assert!((lr - 1e-11).abs() < 1e-20, "{lr}");

    // CSVLogger: the table, one row per epoch, and a metric by name.
    let csv = dir.path().join("history.csv");
    let mut learn = learner();
    learn.add_cb(CSVLogger::new(&csv));
    learn.fit(3, 0.5).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "epoch,train_loss,valid_loss,batch_accuracy,time");
    assert_eq!(lines.len(), 4, "{text}");
    let last = learn.recorder().values.last().unwrap().clone();
    assert!(
        lines[3].starts_with(&format!(
            "2,{:.6},{:.6},{:.6},",
            last.train_loss, last.valid_loss, last.metrics[0]
        )),
        "{text}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".part"))
    );
}
