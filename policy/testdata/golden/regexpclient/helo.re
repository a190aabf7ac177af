/^helo\.example$/ REJECT helo regexp
/^hparent\.example$/ REJECT helo parent regexp
