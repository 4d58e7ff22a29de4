# What `genlearn` offers, and the modules each command and model needs, so that the command line imports only those.
# Generated from the registries by `python -c "from genlearn.cli import write_cli_index; write_cli_index()"`: do not edit.

commands = {
    'train': {'help': 'train a registered model and write a run directory', 'module': 'genlearn.cli'},
    'reconstruct': {'help': "save an autoencoder run's reconstructions of a dataset split (.npy)", 'module': 'genlearn.cli'},
    'encode': {'help': "save an autoencoder run's codings of a dataset split (.npy)", 'module': 'genlearn.cli'},
    'datasets': {'help': 'list the datasets and whether they are available offline', 'module': 'genlearn.cli'},
    'evaluate': {'help': 'score a run or a .npy of images with FID, KID, IS, precision/recall and coverage (autoencoder runs: reconstructions of the validation split; image-to-image runs: its translations)', 'module': 'genlearn.metrics'},
    'translate': {'help': 'apply an image-to-image run to a .npy of input images; save the outputs (.npy)', 'module': 'genlearn.pix2pix'},
    'sample': {'help': 'draw samples from a generative run: an image grid (.png) or an array (.npy)', 'module': 'genlearn.vae'},
    'mix': {'help': "draw a StyleGAN run's style-mixing grid: coarse styles from one source, fine ones from another (.png)", 'module': 'genlearn.stylegan'},
}

models = {
    'cgan': {'description': 'conditional GAN: both networks see the class label (one-hot), so samples can be drawn for a chosen class', 'module': 'genlearn.cgan', 'extended_by': ['genlearn.remedies'], 'sample_options': []},
    'colorize': {'description': 'Pix2Pix colorization: gray digits → digits colored by class (hue = class × 36°), L1 + adversarial', 'module': 'genlearn.colorize', 'extended_by': [], 'sample_options': []},
    'conv-ae': {'description': 'convolutional autoencoder: conv + max-pool encoder, transpose-conv or upsample+conv decoder', 'module': 'genlearn.conv', 'extended_by': [], 'sample_options': []},
    'conv-vae': {'description': 'convolutional variational autoencoder (Bernoulli decoder)', 'module': 'genlearn.vae', 'extended_by': [], 'sample_options': []},
    'cyclegan': {'description': 'CycleGAN (Zhu et al. 2017): two U-Nets and two PatchGANs, least-squares, cycle and identity losses, mnist5k ↔ scikit-learn digits, unpaired', 'module': 'genlearn.cyclegan', 'extended_by': [], 'sample_options': []},
    'dcgan': {'description': "deep convolutional GAN (Géron's layers, the DCGAN guidelines): strided convolutions, batch norm, ReLU and leaky ReLU, tanh output", 'module': 'genlearn.dcgan', 'extended_by': ['genlearn.remedies'], 'sample_options': []},
    'ddpm': {'description': 'denoising diffusion (Ho et al. 2020): a small U-Net predicts the noise; ancestral or DDIM sampling', 'module': 'genlearn.diffusion', 'extended_by': [], 'sample_options': ['clip', 'eta', 'sampler', 'steps']},
    'denoising-ae': {'description': 'stacked autoencoder trained to remove Gaussian or dropout noise from its inputs', 'module': 'genlearn.denoising', 'extended_by': [], 'sample_options': []},
    'gan': {'description': 'the simple dense GAN (leaky ReLU, tanh output), trained in two phases per iteration', 'module': 'genlearn.gan', 'extended_by': ['genlearn.remedies'], 'sample_options': []},
    'latent-diffusion': {'description': 'latent diffusion (Rombach et al. 2022): a residual MLP denoises the codes of a trained VAE, by class with classifier-free guidance', 'module': 'genlearn.latent_diffusion', 'extended_by': [], 'sample_options': ['eta', 'guidance', 'sampler', 'steps']},
    'linear-ae': {'description': 'linear encoder and decoder (no activations) trained with the MSE: learns the PCA subspace', 'module': 'genlearn.pca', 'extended_by': [], 'sample_options': []},
    'pix2pix': {'description': 'Pix2Pix (Isola et al. 2017): U-Net generator and PatchGAN pair critic, L1 + adversarial loss, digits from their edges', 'module': 'genlearn.pix2pix', 'extended_by': [], 'sample_options': []},
    'progan': {'description': 'progressive GAN (Karras et al. 2018): grows 7×7 → 14×14 → 28×28 with fade-in; equalized learning rate, pixel norm, minibatch std', 'module': 'genlearn.progan', 'extended_by': [], 'sample_options': []},
    'recurrent-ae': {'description': 'recurrent autoencoder: LSTM over image rows to a coding vector, LSTM back to rows', 'module': 'genlearn.recurrent', 'extended_by': [], 'sample_options': []},
    'sparse-ae': {'description': 'autoencoder with sigmoid codings and an l1 or KL sparsity penalty on them', 'module': 'genlearn.sparse', 'extended_by': [], 'sample_options': []},
    'srgan': {'description': 'SRGAN-style super-resolution (Ledig et al. 2017): U-Net and PatchGAN pair critic, L1 + adversarial loss, digits from their low-resolution versions', 'module': 'genlearn.superres', 'extended_by': [], 'sample_options': []},
    'stacked-ae': {'description': 'stacked autoencoder in-hidden-codings-hidden-in with SELU (784-100-30-100-784 on MNIST)', 'module': 'genlearn.stacked', 'extended_by': [], 'sample_options': []},
    'stylegan': {'description': 'StyleGAN (Karras et al. 2019): mapping network, styles (modulated convolutions) and noise at every layer, mixing regularization; grown 7×7 → 28×28', 'module': 'genlearn.stylegan', 'extended_by': [], 'sample_options': ['truncation']},
    'tied-ae': {'description': 'stacked autoencoder with tied weights: the decoder reuses the transposed encoder weights', 'module': 'genlearn.tied', 'extended_by': [], 'sample_options': []},
    'vae': {'description': 'variational autoencoder with dense layers (Bernoulli decoder)', 'module': 'genlearn.vae', 'extended_by': [], 'sample_options': []},
    'wgan': {'description': 'Wasserstein GAN with weight clipping (Arjovsky et al. 2017): DCGAN layers, critic without batch norm, RMSProp', 'module': 'genlearn.wgan', 'extended_by': [], 'sample_options': []},
    'wgan-gp': {'description': 'Wasserstein GAN with the gradient penalty (Gulrajani et al. 2017): DCGAN layers, critic without batch norm, Adam β=(0, 0.9)', 'module': 'genlearn.wgan', 'extended_by': [], 'sample_options': []},
}
