# Turns a file into a C++ source holding it as a string: -DIN= -DOUT= -DNS= -DNAME=
# (defaults: the default seccomp profile). A missing IN gives an empty string (optional
# assets such as the web page's npm-built chart library).
if(NOT DEFINED NS)
  set(NS "clawcage::spec")
endif()
if(NOT DEFINED NAME)
  set(NAME "kDefaultSeccompProfile")
endif()
set(CONTENT "")
if(EXISTS ${IN})
  file(READ ${IN} CONTENT)
endif()
set(DELIM "clawcage_embed")
file(WRITE ${OUT} "namespace ${NS} {\nextern const char ${NAME}[] = R\"${DELIM}(${CONTENT})${DELIM}\";\n}\n")
