# Turns a text file into a C++ source holding it as a string (default seccomp profile).
file(READ ${IN} CONTENT)
set(DELIM "clawcage_embed")
file(WRITE ${OUT} "namespace clawcage::spec {\nextern const char kDefaultSeccompProfile[] = R\"${DELIM}(${CONTENT})${DELIM}\";\n}\n")
