/^user@backup\.example$/ x
/^@wild\.example$/ x
/^tagged\+tag@backup\.example$/ x
