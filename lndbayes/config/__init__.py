"""programs.yaml: the schema of the training programs (schema) and its loader (loader).

Every field is documented in docs/programs-yaml.md. The loader reads the YAML with line
numbers so that every problem is reported as ``<file>, row <line>, column '<field path>'``
(see lndbayes.errors.ConfigError), and one bad program never stops the others::

    cfg = load_programs("data/raw/programs.yaml")
    cfg.programs["manager_coaching"].outcomes[0].family   # valid programs, by id
    cfg.errors                                            # {"bad_program": ConfigError(...)}
"""

from lndbayes.config import schema
from lndbayes.config.loader import check_population, load_programs, programs_from_text
from lndbayes.config.schema import *  # noqa: F403 -- the schema's public names, listed once there

__all__ = [*schema.__all__, "load_programs", "programs_from_text", "check_population"]
