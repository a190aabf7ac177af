/^example\.com$/ relay:[domainonly.test]
/^user@example\.org$/ relay:[plainaddr.test]
/^user\+tag@example\.org$/ relay:[fulladdr.test]
/^sub\.example\.net$/ relay:[sub.test]
