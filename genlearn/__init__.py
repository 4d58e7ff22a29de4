__version__ = "0.0.1"

import warnings

# fastai still calls torch.jit.script, which recent PyTorch deprecates; the warning is noise for readers
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated', category=FutureWarning)
# fastai sets a pandas option that pandas 3 deprecates, when fastai.metrics is imported
warnings.filterwarnings('ignore', message="The 'mode.chained_assignment' option is deprecated")
# fastai's GANTrainer copies the model's generator, critic and gen_mode onto itself, which every GANLearner reports as shadowing
warnings.filterwarnings('ignore', message=r'You are shadowing an attribute \((generator|critic|gen_mode)\) that exists in the learner')
