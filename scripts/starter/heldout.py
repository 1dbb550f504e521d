"""The starter adapter's held-out questions: twenty FOLDOC entries the instruction set never
contains, each with a question and the span a right answer must contain (case-insensitive)."""

from __future__ import annotations

QUESTIONS: list[tuple[str, str, str]] = [  # (entry, question, answer span)
    ("Ada", "Who designed the Ada programming language?", "Ichbiah"),
    ("ENIAC", "Who developed ENIAC?", "Mauchly"),
    ("COBOL", "When was COBOL designed?", "1960"),
    ("Alan Turing", "What did Alan Turing invent?", "Turing Machine"),
    ("Ethernet", "Who first described Ethernet?", "Metcalfe"),
    ("Smalltalk", "Who led the group that developed Smalltalk?", "Alan Kay"),
    ("Pascal", "Who designed the Pascal programming language?", "Wirth"),
    ("C", "Where was the C programming language designed?", "Bell Labs"),
    ("Unix", "In what year was Unix invented?", "1969"),
    ("Perl", "Who started Perl?", "Larry Wall"),
    ("Tcl", "Who developed Tcl?", "Ousterhout"),
    ("TeX", "Who wrote TeX?", "Knuth"),
    ("Minix", "For what purpose was MINIX written?", "educational"),
    ("Hypertext", "Who coined the term hypertext?", "Ted Nelson"),
    ("Charles Babbage", "What is Charles Babbage known as?", "Father of Computing"),
    ("Ada Lovelace", "Whose daughter was Ada Lovelace?", "Lord Byron"),
    ("EDSAC", "Where was the EDSAC completed?", "Cambridge"),
    ("ARPANET", "Who funded the ARPANET?", "DARPA"),
    ("APL", "Who designed APL?", "Iverson"),
    ("Eiffel", "Who produced the Eiffel language?", "Bertrand Meyer"),
]

# Names that would give a held-out answer away: training entries that mention one are left out.
GIVEAWAYS = (
    "Ichbiah", "Mauchly", "Eckert", "Turing", "Metcalfe", "Alan Kay", "Wirth", "Ritchie",
    "Thompson", "Larry Wall", "Ousterhout", "Knuth", "Tanenbaum", "Ted Nelson", "Babbage",
    "Lovelace", "Byron", "EDSAC", "EDVAC", "Iverson", "Bertrand Meyer", "CODASYL",
)
