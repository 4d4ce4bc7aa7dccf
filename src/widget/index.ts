/** The embeddable widget's entry: importing it defines <adadiff-generator>. */
import { defineAdaDiffGenerator } from './element';

export { AdaDiffGenerator, defineAdaDiffGenerator } from './element';

defineAdaDiffGenerator();
