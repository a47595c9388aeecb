//! The vision learner: ResNet shapes and parameter counts against torchvision's, BatchNorm's two
//! modes, fastai's Adam against its formula, the one-cycle schedule as recorded, lr_find,
//! ImageDataLoaders and the interpretation of a trained model.

mod common;

use burn::module::Module;
use burn::nn::BatchNormConfig;
use burn::optim::Optimizer;
use burn::prelude::*;
use burn::tensor::Distribution;
use common::synthetic_dls;
use fastburn::Error;
use fastburn::data::{FolderOptions, ImageDataLoaders, embedded_sample};
use fastburn::learner::{
    ClassificationInterpretation, FastaiAdam, Learner, MomentumHandle, OptFunc, vision_learner,
};
use fastburn::loss::{bce_with_logits, cross_entropy};
use fastburn::metrics::ACCURACY;
use fastburn::models::{Model, linear, resnet18, resnet34, trainable_params};

#[test]
fn resnet_bodies_match_torchvision() {
    let dev = Device::flex();
    // torchvision: resnet18 has 11,689,512 parameters with its 1000-class fc (513,000), so
    // 11,177,538 with a 2-class fc; resnet34 has 21,797,672.
    let r18 = resnet18(3, 2, &dev);
    // Burn also counts BatchNorm's running statistics (4,800 channels, mean and variance).
    assert_eq!(r18.body.num_params(), 11_176_512 + 2 * 4_800);
    assert_eq!(trainable_params(&r18.body), 11_689_512 - 513_000);
    assert_eq!(trainable_params(&r18.body) + 512 * 2 + 2, 11_177_538);
    assert_eq!(
        trainable_params(&resnet34(3, 10, &dev).body),
        21_797_672 - 513_000
    );
    // fastai's head: BN(1024), Linear(1024, 512, no bias), BN(512), Linear(512, n, no bias).
    assert_eq!(
        trainable_params(&r18.head),
        2 * 1024 + 1024 * 512 + 2 * 512 + 512 * 2
    );
    // One input channel only changes the stem.
    assert_eq!(
        trainable_params(&resnet18(1, 2, &dev).body),
        trainable_params(&r18.body) - 2 * 64 * 49
    );
    // Feature maps: 28x28 ends 1x1, 64x64 ends 2x2, both 512 deep; logits per class.
    let r = resnet18(1, 10, &dev).valid();
    assert_eq!(
        r.body.forward(Tensor::zeros([2, 1, 28, 28], &dev)).dims(),
        [2, 512, 1, 1]
    );
    assert_eq!(
        r.body.forward(Tensor::zeros([2, 1, 64, 64], &dev)).dims(),
        [2, 512, 2, 2]
    );
    assert_eq!(
        r.forward(Tensor::zeros([3, 1, 28, 28], &dev)).dims(),
        [3, 10]
    );
}

#[test]
fn batchnorm_normalises_by_batch_in_training_and_by_running_stats_in_eval() {
    let dev = fastburn::device();
    let bn = BatchNormConfig::new(2).init(&dev);
    let x = Tensor::<4>::random([16, 2, 3, 3], Distribution::Normal(5.0, 2.0), &dev);
    // Before any training step, eval mode uses the initial statistics (mean 0, variance 1).
    let fresh = bn.clone().valid().forward(x.clone().inner());
    assert!((fresh.mean().into_scalar::<f32>() - 5.0).abs() < 0.6);
    for _ in 0..60 {
        let y = bn.forward(x.clone());
        let mean = y.clone().mean().into_scalar::<f32>();
        assert!(
            mean.abs() < 1e-4,
            "training mode normalises with the batch's own statistics: {mean}"
        );
        let _ = y.sum().backward();
    }
    // After 60 updates (momentum 0.1) the running statistics have converged to the data's.
    let eval = bn.clone().valid();
    let out = eval.forward(x.clone().inner());
    assert!(out.clone().mean().into_scalar::<f32>().abs() < 0.05);
    // In eval mode an image's output does not depend on the rest of its batch.
    let alone = eval.forward(x.clone().inner().slice_dim(0, 0..1));
    let diff = (alone - out.slice_dim(0, 0..1))
        .abs()
        .max()
        .into_scalar::<f32>();
    assert!(diff < 1e-5, "{diff}");
}

/// fastai's Adam with its defaults, and the handle `fit_one_cycle` moves its momentum with.
fn fastai_adam(mom: f64) -> (FastaiAdam, MomentumHandle) {
    let handle = MomentumHandle::new(mom);
    let adam = FastaiAdam {
        mom: handle.clone(),
        sqr_mom: 0.99,
        eps: 1e-5,
        wd: 0.01,
    };
    (adam, handle)
}

#[test]
fn fastai_adam_follows_its_formula() {
    let dev = Device::flex();
    let (adam, mom) = fastai_adam(0.9);
    let (lr, p0, g1, g2) = (0.1f64, 1.0f64, 0.5f64, -0.2f64);
    // A weight matrix (rank 2): weight decay applies.
    let t = |v: f64| Tensor::<2>::from_floats([[v as f32]], &dev);
    let (p1, s1) = adam.step(lr, t(p0), t(g1), None);
    mom.set(0.8); // as fit_one_cycle moves it between steps
    let (p2, _) = adam.step(lr, p1.clone(), t(g2), s1);

    // By hand: decoupled weight decay, then the debiased Adam step.
    let step = |p: f64, avg: f64, sqr: f64, n: i32, m: f64| {
        let p = p * (1.0 - lr * 0.01);
        p - lr / (1.0 - m.powi(n)) * avg / ((sqr / (1.0 - 0.99f64.powi(n))).sqrt() + 1e-5)
    };
    let (avg1, sqr1) = (0.1 * g1, 0.01 * g1 * g1);
    let want1 = step(p0, avg1, sqr1, 1, 0.9);
    let (avg2, sqr2) = (0.8 * avg1 + 0.2 * g2, 0.99 * sqr1 + 0.01 * g2 * g2);
    let want2 = step(want1, avg2, sqr2, 2, 0.8);
    assert!((p1.into_scalar::<f32>() as f64 - want1).abs() < 1e-6);
    assert!((p2.into_scalar::<f32>() as f64 - want2).abs() < 1e-6);

    // A bias or BatchNorm parameter (rank 1): fastai's `wd_bn_bias=False`, no weight decay.
    mom.set(0.9);
    let (b1, _) = adam.step(
        lr,
        Tensor::<1>::from_floats([p0 as f32], &dev),
        Tensor::<1>::from_floats([g1 as f32], &dev),
        None,
    );
    let no_wd = p0 - lr / 0.1 * avg1 / ((sqr1 / 0.01).sqrt() + 1e-5);
    assert!((b1.into_scalar::<f32>() as f64 - no_wd).abs() < 1e-6);
}

#[test]
fn fused_fastai_adam_matches_its_tensor_form() {
    // On the CPU the step runs as one pass over host memory; elsewhere as tensor operations.
    // Both must take the same steps, rank 1 (no weight decay) and rank 4 alike.
    let dev = Device::flex();
    let (adam, mom) = fastai_adam(0.95);
    fn check<const D: usize>(
        adam: &FastaiAdam,
        mom: &MomentumHandle,
        shape: [usize; D],
        dev: &Device,
    ) {
        let mut fused = Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), dev);
        let mut plain = fused.clone();
        let (mut s_fused, mut s_plain) = (None, None);
        for (i, lr) in [0.004, 0.05, 0.1].into_iter().enumerate() {
            mom.set(0.95 - 0.05 * i as f64);
            let grad = Tensor::<D>::random(shape, Distribution::Normal(0.0, 0.5), dev);
            (fused, s_fused) = adam.step(lr, fused, grad.clone(), s_fused);
            (plain, s_plain) = adam.step_unfused(lr, plain, grad, s_plain);
        }
        let moved = (fused.clone() - plain.clone())
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(
            moved < 1e-5,
            "{shape:?}: fused and tensor steps differ by {moved}"
        );
        let (a, b) = (s_fused.unwrap(), s_plain.unwrap());
        assert_eq!((a.step, b.step), (3, 3));
        let state_diff = (a.sqr_avg - b.sqr_avg).abs().max().into_scalar::<f32>();
        assert!(state_diff < 1e-6, "{state_diff}");
    }
    check(&adam, &mom, [300], &dev);
    check(&adam, &mom, [8, 3, 7, 7], &dev);
}

#[test]
fn fit_one_cycle_records_fastais_schedule() {
    let dev = fastburn::device();
    let mut learn = Learner::new(
        synthetic_dls(3),
        linear(4, 2, &dev),
        OptFunc::FASTAI_ADAM,
        cross_entropy,
        vec![ACCURACY],
    );
    learn.quiet(true);
    let (loss0, _) = learn.validate();
    learn.fit_one_cycle(4, 0.1).unwrap();
    let (lrs, moms) = (&learn.recorder.lrs, &learn.recorder.moms);
    assert_eq!((lrs.len(), moms.len()), (32, 32));
    assert!((lrs[0] - 0.1 / 25.0).abs() < 1e-12);
    assert!((lrs[8] - 0.1).abs() < 1e-12, "the peak at 25%: {}", lrs[8]);
    assert!(lrs[31] < 0.1 / 100.0 && lrs[31] > 0.1 / 1e5);
    assert!((moms[0] - 0.95).abs() < 1e-12 && (moms[8] - 0.85).abs() < 1e-12);
    assert!(lrs[..8].windows(2).all(|w| w[0] < w[1]) && lrs[8..].windows(2).all(|w| w[0] > w[1]));
    assert!(learn.recorder.values.last().unwrap().valid_loss < loss0);
}

#[test]
fn lr_find_suggests_a_workable_rate_and_leaves_the_model_alone() {
    let dev = fastburn::device();
    let mut learn = Learner::new(
        synthetic_dls(3),
        linear(4, 1, &dev),
        OptFunc::SGD,
        bce_with_logits,
        vec![],
    );
    learn.quiet(true);
    let x = learn.dls.valid.dataset.x.clone();
    let before: Vec<f32> = learn.predict(x.clone()).into_data().iter::<f32>().collect();
    let found = learn.lr_find(1e-7, 10.0, 100).unwrap();
    let after: Vec<f32> = learn.predict(x).into_data().iter::<f32>().collect();
    assert_eq!(before, after, "lr_find trains a copy");
    assert!(found.lrs.len() > 50, "{} points", found.lrs.len());
    assert!(found.lrs.windows(2).all(|w| w[1] > w[0]));
    // The loss only moves once the rate is large enough; the suggestion is where it falls.
    assert!(
        found.suggestion > 1e-3 && found.suggestion < 10.0,
        "{}",
        found.suggestion
    );
    // And it works: training at the suggestion lowers the loss.
    let (loss0, _) = learn.validate();
    learn.fit(5, found.suggestion).unwrap();
    assert!(learn.validate().0 < loss0);
    let plot = tempfile::tempdir().unwrap().keep().join("lr_find.png");
    found.plot(&plot).unwrap();
    assert!(image::open(&plot).is_ok());
}

#[test]
fn image_dataloaders_from_folder() {
    let dev = fastburn::device();
    let root = embedded_sample().unwrap();
    let dls = ImageDataLoaders::from_folder(&root, &FolderOptions::default(), &dev).unwrap();
    assert_eq!(dls.vocab, ["3", "7"]);
    assert_eq!(dls.train.dataset.x.dims(), [700, 1, 28, 28]);
    // fastai drops the short last training batch (700 = 10 * 64 + 60), never a validation one.
    assert_eq!((dls.train.bs, dls.train.len()), (64, 10));
    assert_eq!(dls.train.batch_indices().concat().len(), 640);
    assert_eq!(dls.valid.len(), 11);
    // Raw pixels / 255 by default (fastai without pretrained weights): background 0, ink to 1.
    assert_eq!(dls.norm, None);
    let x = dls.train.dataset.x.clone().inner();
    assert_eq!(x.clone().min().into_scalar::<f32>(), 0.0);
    assert_eq!(x.clone().max().into_scalar::<f32>(), 1.0);
    // On request, normalised with the training set's statistics: mean 0 and std 1 there.
    let opts = FolderOptions {
        normalize: true,
        ..FolderOptions::default()
    };
    let normed = ImageDataLoaders::from_folder(&root, &opts, &dev).unwrap();
    let (mean, std) = normed.norm.unwrap();
    let x = normed.train.dataset.x.clone().inner();
    assert!(x.clone().mean().into_scalar::<f32>().abs() < 1e-4);
    assert!((x.clone().var(0).mean().into_scalar::<f32>() - 1.0).abs() < 0.5);
    let raw = dls.train.dataset.x.clone().inner();
    let back = x * std + mean;
    assert!((back - raw).abs().max().into_scalar::<f32>() < 1e-5);
    let y: Vec<i64> = dls
        .valid
        .dataset
        .y
        .clone()
        .into_data()
        .iter::<i64>()
        .collect();
    assert_eq!(y.iter().filter(|&&l| l == 0).count(), 350);

    // MNIST's own names (training/testing), subsets, resizing, and a class missing in training.
    let dir = tempfile::tempdir().unwrap();
    for (split, digits) in [("training", ["0", "1"]), ("testing", ["0", "1"])] {
        for d in digits {
            std::fs::create_dir_all(dir.path().join(split).join(d)).unwrap();
            for i in 0..6 {
                let img = image::GrayImage::from_pixel(
                    20 + i,
                    20,
                    image::Luma([40 * (d == "1") as u8 + i as u8]),
                );
                img.save(dir.path().join(split).join(d).join(format!("{i}.png")))
                    .unwrap();
            }
        }
    }
    let err =
        ImageDataLoaders::from_folder(dir.path(), &FolderOptions::default(), &dev).unwrap_err();
    assert!(matches!(err, Error::ImageSize { .. }), "{err}");
    let opts = FolderOptions {
        size: Some((16, 16)),
        max_train: Some(8),
        bs: 4,
        ..FolderOptions::default()
    };
    let dls = ImageDataLoaders::from_folder(dir.path(), &opts, &dev).unwrap();
    assert_eq!(dls.train.dataset.x.dims(), [8, 1, 16, 16]);
    assert_eq!(dls.valid.dataset.x.dims(), [12, 1, 16, 16]);
    std::fs::create_dir_all(dir.path().join("testing").join("9")).unwrap();
    image::GrayImage::new(20, 20)
        .save(dir.path().join("testing/9/0.png"))
        .unwrap();
    let err = ImageDataLoaders::from_folder(dir.path(), &opts, &dev).unwrap_err();
    assert!(err.to_string().contains("\"9\""), "{err}");
    let err = ImageDataLoaders::from_folder(&dir.path().join("training"), &opts, &dev).unwrap_err();
    assert!(matches!(err, Error::MissingFolder { .. }), "{err}");
}

#[test]
fn resnet18_learns_a_little_and_interpretation_adds_up() {
    // A few batches of the embedded sample: enough to check that gradients flow through every
    // block and that the interpretation's numbers agree with each other.
    let dev = fastburn::device();
    dev.seed(1);
    let opts = FolderOptions {
        bs: 32,
        max_train: Some(320),
        max_valid: Some(96),
        ..FolderOptions::default()
    };
    let dls = ImageDataLoaders::from_folder(&embedded_sample().unwrap(), &opts, &dev).unwrap();
    let mut learn = vision_learner(dls, resnet18, &dev);
    learn.quiet(true);
    learn.fit_one_cycle(2, 0.01).unwrap();
    let train_losses = &learn.recorder.losses;
    assert!(
        train_losses.last().unwrap() < &train_losses[0],
        "{train_losses:?}"
    );
    let interp = ClassificationInterpretation::from_learner(&learn);
    let cm = interp.confusion_matrix();
    assert_eq!(cm.iter().flatten().sum::<usize>(), 96);
    let right: usize = (0..2).map(|i| cm[i][i]).sum();
    let acc = learn.recorder.values.last().unwrap().metrics[0];
    assert!(
        (right as f32 / 96.0 - acc).abs() < 1e-4,
        "{right}/96 vs {acc}"
    );
    let top = interp.top_losses(5);
    assert!(
        top.windows(2)
            .all(|w| interp.losses[w[0]] >= interp.losses[w[1]])
    );
    let dir = tempfile::tempdir().unwrap();
    interp
        .plot_top_losses(9, &dir.path().join("top.png"))
        .unwrap();
    interp
        .plot_confusion_matrix(&dir.path().join("cm.png"))
        .unwrap();
    assert!(image::open(dir.path().join("top.png")).is_ok());
}
