//! `fine_tune` against fastai's own run: the same hyper-parameters batch by batch
//! (tests/fixtures/fine_tune_fastai.json, written by scripts/make_fine_tune_fixture.py), the same
//! parameters trainable, and frozen weights unchanged bit for bit.

mod common;

use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use common::synthetic_dls;
use fastburn::learner::{ADAM, Callback, Control, FitState, Learner};
use fastburn::loss::cross_entropy;
use fastburn::metrics::ACCURACY;
use fastburn::models::{Model, batch_norm};

/// The fixture's learner: a body (Linear(4, 8), BatchNorm1d(8)) and a head (Linear(8, 2)), split
/// into two parameter groups as fastai's `splitter` did.
#[derive(Module, Debug)]
struct TwoGroups {
    body: Body,
    head: Linear,
}

#[derive(Module, Debug)]
struct Body {
    lin: Linear,
    bn: BatchNorm,
}

impl Model for TwoGroups {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let n = x.dims()[0];
        let x = self.body.lin.forward(x.reshape([n, 4]));
        self.head.forward(batch_norm(&self.body.bn, x))
    }
    fn n_out(&self) -> usize {
        2
    }
    fn param_groups(&self) -> Vec<String> {
        vec!["body".into(), "head".into()]
    }
}

/// What one training batch ran with.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    lr: Vec<f64>,
    mom: Vec<f64>,
    weight_trains: bool,
    bias_trains: bool,
    bn_trains: bool,
    /// The body's linear weight after the batch's step.
    weight: Vec<f32>,
}

#[derive(Default)]
struct Record(Vec<Row>);

impl Callback<TwoGroups> for Record {
    fn after_batch(
        &mut self,
        learn: &mut Learner<TwoGroups>,
        fit: &mut FitState,
    ) -> fastburn::Result<Control> {
        if fit.training {
            let body = &learn.model.body;
            self.0.push(Row {
                lr: learn.opt.hypers.iter().map(|h| h.lr).collect(),
                mom: learn.opt.hypers.iter().map(|h| h.mom).collect(),
                weight_trains: body.lin.weight.val().is_require_grad(),
                bias_trains: body.lin.bias.as_ref().unwrap().val().is_require_grad(),
                bn_trains: body.bn.gamma.val().is_require_grad(),
                weight: body.lin.weight.val().into_data().iter::<f32>().collect(),
            });
        }
        Ok(Control::Continue)
    }
}

fn fastai_rows() -> Vec<serde_json::Value> {
    let text = include_str!("fixtures/fine_tune_fastai.json");
    let json: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(json["batches_per_epoch"], 8);
    json["batches"].as_array().unwrap().clone()
}

/// The tests here seed the device's one generator and then draw initial weights: run one at a
/// time, so another test's draws do not fall between a seed and its weights.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn fine_tune_runs_fastais_schedule_and_freezing() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dev = fastburn::device();
    let model = TwoGroups {
        body: Body {
            lin: LinearConfig::new(4, 8).init(&dev),
            bn: BatchNormConfig::new(8).init(&dev),
        },
        head: LinearConfig::new(8, 2).init(&dev),
    };
    // 256 items in batches of 32: 8 batches an epoch, as the fixture's.
    let mut learn = Learner::new(synthetic_dls(1), model, ADAM, cross_entropy, vec![ACCURACY]);
    learn.quiet(true);
    learn.add_cb(Record::default());
    let w0: Vec<f32> = learn
        .model
        .body
        .lin
        .weight
        .val()
        .into_data()
        .iter::<f32>()
        .collect();
    learn.fine_tune(2, 2e-3).unwrap();
    let rows = &learn.cb::<Record>().unwrap().0;
    let want = fastai_rows();
    assert_eq!(rows.len(), want.len(), "one frozen epoch, then two");
    // fastai's `combine_scheds` keeps the phase boundaries in a float32 tensor, so its
    // positions (and the rates made from them) carry float32 rounding: 1e-6 relative.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 + 1e-6 * b.abs();
    for (i, (got, w)) in rows.iter().zip(&want).enumerate() {
        for g in 0..2 {
            let (lr, mom) = (w["lr"][g].as_f64().unwrap(), w["mom"][g].as_f64().unwrap());
            assert!(
                close(got.lr[g], lr),
                "batch {i} group {g}: lr {} vs fastai's {lr}",
                got.lr[g]
            );
            assert!(
                close(got.mom[g], mom),
                "batch {i} group {g}: mom {} vs fastai's {mom}",
                got.mom[g]
            );
        }
        assert_eq!(
            (got.weight_trains, got.bias_trains, got.bn_trains),
            (
                w["body_weight_trains"].as_bool().unwrap(),
                w["body_bias_trains"].as_bool().unwrap(),
                w["body_bn_trains"].as_bool().unwrap()
            ),
            "batch {i}: which body parameters train"
        );
    }
    // Frozen: the body's weight is bit for bit what it was; unfrozen, it moves.
    let frozen = want
        .iter()
        .take_while(|w| w["body_weight_trains"] == false)
        .count();
    assert_eq!(frozen, 8);
    assert!(rows[..frozen].iter().all(|r| r.weight == w0));
    assert_ne!(rows[frozen].weight, w0);
}

/// The fixture's two-group model, its initial weights drawn from `seed`.
fn two_groups(seed: u64) -> Learner<TwoGroups> {
    let dev = fastburn::device();
    dev.seed(seed);
    let model = TwoGroups {
        body: Body {
            lin: LinearConfig::new(4, 8).init(&dev),
            bn: BatchNormConfig::new(8).init(&dev),
        },
        head: LinearConfig::new(8, 2).init(&dev),
    };
    let mut learn = Learner::new(synthetic_dls(1), model, ADAM, cross_entropy, vec![ACCURACY]);
    learn.quiet(true);
    learn
}

/// Sets a flag at the end of training batch `at` (counted over the whole run), as a Ctrl-C
/// would, for the checkpoint callback to stop on.
struct InterruptAt {
    at: usize,
    seen: usize,
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Callback<TwoGroups> for InterruptAt {
    fn after_batch(
        &mut self,
        _learn: &mut Learner<TwoGroups>,
        fit: &mut FitState,
    ) -> fastburn::Result<Control> {
        if fit.training {
            if self.seen == self.at {
                self.flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            self.seen += 1;
        }
        Ok(Control::Continue)
    }
}

/// `fine_tune` stopped in its frozen fit or in its unfrozen one, and resumed from the checkpoint
/// by a fresh learner, ends with the uninterrupted run's weights, bit for bit; a checkpoint of
/// a plain fit does not resume `fine_tune`, nor one of `fine_tune` a plain fit.
#[test]
fn fine_tune_resumes_in_either_fit() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    use fastburn::learner::CheckpointCallback;
    let mut whole = two_groups(7);
    whole.fine_tune(2, 2e-3).unwrap();
    let want = common::module_floats(&whole.model);
    let dir = tempfile::tempdir().unwrap();
    // 8 batches an epoch: batch 5 is in the frozen fit, 13 in the unfrozen one.
    for at in [5, 13] {
        let path = dir.path().join(format!("ck{at}.fbc"));
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut cut = two_groups(7);
        cut.add_cb(InterruptAt {
            at,
            seen: 0,
            flag: flag.clone(),
        });
        cut.add_cb(CheckpointCallback::new(&path, None).on_interrupt(flag));
        let err = cut.fine_tune(2, 2e-3).unwrap_err();
        assert!(matches!(err, fastburn::Error::Interrupted { .. }), "{err}");
        // Another process: other initial weights, which the checkpoint replaces.
        let mut resumed = two_groups(99);
        resumed.resume(&path).unwrap();
        resumed.fine_tune(2, 2e-3).unwrap();
        assert!(
            common::module_floats(&resumed.model) == want,
            "stopped at batch {at}: weights differ"
        );
        assert_eq!(
            resumed.recorder().values.len(),
            2,
            "the unfrozen fit's two epochs"
        );

        let mut plain = two_groups(7);
        plain.resume(&path).unwrap();
        let err = plain.fit_one_cycle(2, 1e-3).unwrap_err();
        assert!(
            err.to_string().contains("fine_tune's") && err.to_string().contains("not in a fit"),
            "{err}"
        );
    }
    let path = dir.path().join("plain.fbc");
    let mut plain = two_groups(7);
    plain.add_cb(CheckpointCallback::new(&path, None));
    plain.fit_one_cycle(1, 1e-3).unwrap();
    let mut tune = two_groups(7);
    tune.resume(&path).unwrap();
    let err = tune.fine_tune(2, 2e-3).unwrap_err();
    assert!(
        err.to_string()
            .contains("written in a fit, not in fine_tune's first fit"),
        "{err}"
    );
}

/// What the device's generator gives at the start of each training batch: what a dropout
/// layer of that batch would draw from.
#[derive(Default)]
struct Draws(Vec<Vec<f32>>);

impl Callback<TwoGroups> for Draws {
    fn before_batch(
        &mut self,
        learn: &mut Learner<TwoGroups>,
        fit: &mut FitState,
    ) -> fastburn::Result<Control> {
        if fit.training {
            let draw = Tensor::<1>::random(
                [6],
                burn::tensor::Distribution::Uniform(0.0, 1.0),
                &learn.device(),
            );
            self.0.push(draw.into_data().iter::<f32>().collect());
        }
        Ok(Control::Continue)
    }
}

/// `fine_tune`'s unfrozen fit does not draw the frozen fit's dropout masks again batch for batch
/// (each batch of the learner's life has its own seed), and a run resumed in the unfrozen fit
/// draws what the uninterrupted run drew.
#[test]
fn fine_tunes_fits_draw_their_own_random_masks() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    use fastburn::learner::CheckpointCallback;
    let mut whole = two_groups(7);
    whole.add_cb(Draws::default());
    whole.fine_tune(1, 2e-3).unwrap();
    let draws = std::mem::take(&mut whole.cb_mut::<Draws>().unwrap().0);
    // 8 batches in the frozen fit, 8 in the unfrozen one.
    assert_eq!(draws.len(), 16);
    for (i, a) in draws.iter().enumerate() {
        for b in &draws[i + 1..] {
            assert_ne!(a, b, "two training batches drew the same numbers");
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.fbc");
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut cut = two_groups(7);
    cut.add_cb(InterruptAt {
        at: 10,
        seen: 0,
        flag: flag.clone(),
    });
    cut.add_cb(CheckpointCallback::new(&path, None).on_interrupt(flag));
    cut.fine_tune(1, 2e-3).unwrap_err();
    let mut resumed = two_groups(99);
    resumed.add_cb(Draws::default());
    resumed.resume(&path).unwrap();
    resumed.fine_tune(1, 2e-3).unwrap();
    let rest = &resumed.cb_mut::<Draws>().unwrap().0;
    assert_eq!(
        rest[..],
        draws[11..],
        "the resumed batches 11-15 drew other numbers"
    );
}
