# All metadata lives in setup.cfg; this file only lets old tools build the package.
from setuptools import setup

setup()
