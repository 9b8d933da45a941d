"""improved-gan-tf2: a TF2 / Keras 3 port of openai/improved-gan (Salimans et al., NIPS 2016)."""
from setuptools import find_packages, setup

setup(
    name="improved-gan-tf2",
    version="0.1.0",
    description=(
        "TensorFlow 2 / Keras 3 reproduction of 'Improved Techniques for Training GANs' "
        "(Salimans et al., 2016), faithful to the original openai/improved-gan release."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",  # tomllib (the visual Turing test's study files); CI runs on 3.11
    packages=find_packages(
        include=[
            "improved_gan_tf2",
            "improved_gan_tf2.*",
            "mnist_svhn_cifar",
            "imagenet",
            "inception_score",
        ]
    ),
    include_package_data=True,
    package_data={"improved_gan_tf2.data": ["*.npz", "*.md"]},
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3",
        "tensorflow-datasets",
        "numpy",
        "absl-py",
        "tensorboard",  # summaries (TensorFlow >= 2.20 no longer installs it)
        "scipy",  # SVHN's .mat files
        "pillow",  # PNG sample grids, image directories
        "flask",  # the visual Turing test's web app (improved_gan_tf2.turing)
        "waitress",  # its production WSGI server
        "matplotlib",  # the plots of report and compare run (Agg backend)
    ],
    extras_require={"test": ["pytest", "pytest-xdist", "selenium"]},
)
