from setuptools import find_packages, setup

from blynklite import __version__

setup(
    name="blynklite",
    version=__version__,
    description="A small single-threaded reimplementation of the Blynk 0.41 IoT server",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["blynklite", "blynklite.*"]),
    package_data={"blynklite": ["static/*", "storage/sql/*.sql"]},
    python_requires=">=3.9",
    install_requires=[],
    extras_require={
        "tls": ["cryptography"],
        "db": ["psycopg2-binary"],
        "test": ["pytest", "hypothesis", "cryptography", "blynklib==0.2.6", "blynk-library-python==0.2.0",
                 "pyblynkrestapi==0.0.2", "requests", "selenium==4.51.0",
                 "zxing-cpp==3.1.1", "pillow", "aiosmtpd==1.4.6", "paho-mqtt", "psycopg2-binary"],
    },
    entry_points={"console_scripts": [
        "blynklite=blynklite.__main__:main",
        "blynklite-client=blynklite.client:main",
    ]},
)
